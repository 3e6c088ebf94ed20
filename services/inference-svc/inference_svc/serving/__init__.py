"""What runs on Ray Serve (replicas loading a model from the object store) and how inference-svc drives it."""

import os

# Read by Ray when it is imported, hence here, before any module of this package imports it: never start a
# second, unconfigured Ray behind our back (a handle's metrics task at interpreter exit would), and send
# no usage statistics anywhere.
os.environ.setdefault("RAY_ENABLE_AUTO_CONNECT", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
