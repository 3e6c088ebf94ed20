"""What runs on Ray Serve (replicas loading a model from the object store) and how inference-svc drives it."""

import os

# Read by Ray when it is imported, hence here, before any module of this package imports it: never start a
# second, unconfigured Ray behind our back (a handle's metrics task at interpreter exit would), and send
# no usage statistics anywhere.
os.environ.setdefault("RAY_ENABLE_AUTO_CONNECT", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
# Ray starts its workers (Serve replicas among them) at niceness 15 by default: on a machine shared with the
# services (the local mode) replicas would then wait behind them for the CPU. Replicas are the work here.
os.environ.setdefault("RAY_worker_niceness", "0")
# Fewer thread hops per request (Ray's own "throughput optimized" settings, minus the rest of that bundle):
# the caller's router runs on the caller's event loop, and replica code on the replica's main loop (the
# forward pass runs in a worker thread, so that loop stays free).
os.environ.setdefault("RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP", "0")
os.environ.setdefault("RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD", "0")
