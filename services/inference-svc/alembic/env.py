from automl_common.db.migrations import run_env
from inference_svc.db import VERSION_TABLE, Base
from inference_svc.tables import *  # noqa: F403  (register every table on the metadata)

run_env(Base.metadata, VERSION_TABLE)
