"""What runs on Ray Serve (replicas loading a model from the object store) and how inference-svc drives it."""

import os
from collections.abc import Callable

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


def _confine_replica_grpc_to_loopback() -> None:
    """In a local (single-host) Ray, a Serve replica's inter-deployment gRPC server binds loopback too.

    Serve binds that server to ``[::]:0`` whatever Ray's node address is; everything else of a single-host Ray
    is on loopback (see ``runtime.confine_local_ray``), and this module is imported in every replica process
    (replicas are our classes) before the server starts. Only the bind address changes."""
    if os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER") != "0":
        return
    try:
        from ray.serve._private import replica
    except ImportError:  # not in a Ray process
        return
    bind: Callable[[object, str], int] = getattr(replica, "add_port_to_grpc_server")  # noqa: B009
    if getattr(bind, "automl_loopback", False):
        return

    def loopback_bind(server: object, address: str) -> int:
        if address.startswith("[::]:"):
            address = "127.0.0.1:" + address.removeprefix("[::]:")
        return bind(server, address)

    setattr(loopback_bind, "automl_loopback", True)  # noqa: B010
    setattr(replica, "add_port_to_grpc_server", loopback_bind)  # noqa: B010


_confine_replica_grpc_to_loopback()
