from automl_common.db.migrations import run_env
from gateway.db import VERSION_TABLE, Base
from gateway.models import *  # noqa: F403  (register every table on the metadata)

run_env(Base.metadata, VERSION_TABLE)
