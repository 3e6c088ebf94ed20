from automl_common.db.migrations import run_env
from snapshot_svc.db import VERSION_TABLE, Base

run_env(Base.metadata, VERSION_TABLE)
