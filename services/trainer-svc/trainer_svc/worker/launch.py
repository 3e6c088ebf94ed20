"""Several ranks: this process runs torchrun's elastic agent (``torch.distributed.run``), which starts
``python -m trainer_svc.worker`` once per local rank with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the
rendezvous set, and restarts nothing itself (``--max-restarts 0``): a failed rank fails the attempt, and
trainer-svc's next attempt resumes from the checkpoint (at whatever world size it then has).

On one host (the local backend, or a pod with several GPUs) the rendezvous store is on loopback: torch's
TCP store binds every interface unless it is handed a listening socket, so it is handed one bound to
127.0.0.1, and gloo is told to use the loopback interface. Across nodes (an Indexed Job) the store is on
pod 0, reached through the Job's headless Service."""

from __future__ import annotations

import logging
import os
import signal
import socket
from dataclasses import dataclass
from typing import Any

from automl_proto.training import JobSpec
from trainer_svc.jobs.exits import WorkerExit, read_exit
from trainer_svc.worker.settings import WorkerSettings

logger = logging.getLogger("automl.worker")
LOOPBACK = "127.0.0.1"
LAUNCHER_PID = "AUTOML_WORKER_LAUNCHER_PID"  # the ranks' parent (in a pod it may be pid 1 itself)


@dataclass(frozen=True)
class Topology:
    processes: int  # per node
    nodes: int
    node_rank: int
    endpoint: str | None  # host:port of the rendezvous; None: this host, on loopback

    @property
    def size(self) -> int:
        return self.processes * self.nodes


def die_with_launcher() -> None:
    """A rank is killed when its launcher dies (the agent starts each rank in a session of its own, so a
    SIGKILL of the launcher's process group would leave the ranks running)."""
    import ctypes

    pr_set_pdeathsig = 1
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the launcher's own shutdown still stops its ranks
        return
    launcher = os.environ.get(LAUNCHER_PID)
    if launcher is not None and os.getppid() != int(launcher):  # the launcher died before the call above
        os._exit(int(WorkerExit.INTERRUPTED))


def world_of(spec: JobSpec, settings: WorkerSettings) -> Topology:
    """From the pod's environment on Kubernetes; locally every rank of ``gpus`` x ``nodes`` on this host."""
    if settings.nproc_per_node:
        return Topology(settings.nproc_per_node, settings.nnodes, settings.node_rank, settings.rdzv_endpoint)
    return Topology(spec.options.world_size, 1, 0, None)


def _listening_fd(port: int) -> int:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((LOOPBACK, port))
    sock.listen(128)
    return sock.detach()


def _stores_on_loopback(listener: socket.socket) -> None:
    """Both stores the agent hosts (the rendezvous's, on ``listener``, and the one the workers share) listen
    on loopback sockets handed to them, instead of every interface."""
    from torch.distributed import TCPStore  # type: ignore[attr-defined]
    from torch.distributed.elastic.rendezvous import c10d_rendezvous_backend
    from torch.distributed.elastic.rendezvous.dynamic_rendezvous import DynamicRendezvousHandler

    handed = {"fd": listener.detach()}

    def rendezvous_store(host: str, port: int, **kwargs: Any) -> Any:
        fd = handed.pop("fd", None)
        if kwargs.get("is_master") and fd is not None:
            kwargs["master_listen_fd"] = fd
        return TCPStore(host, port, **kwargs)

    def workers_store(_self: Any, master_addr: str, master_port: int) -> Any:
        fd = _listening_fd(master_port)
        return TCPStore(host_name=LOOPBACK, port=master_port, is_master=True, multi_tenant=True, master_listen_fd=fd)

    c10d_rendezvous_backend.TCPStore = rendezvous_store  # type: ignore[attr-defined,assignment]
    DynamicRendezvousHandler._create_tcp_store_server = workers_store  # type: ignore[method-assign,assignment]


def launch(args: list[str], topology: Topology, job_id: str, module: str = "trainer_svc.worker") -> int:
    """Run ``python -m <module> <args>`` as every local rank of ``topology``; the exit code of the first to fail."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.elastic.rendezvous.api import RendezvousError
    from torch.distributed.run import get_args_parser
    from torch.distributed.run import run as torchrun

    os.environ[LAUNCHER_PID] = str(os.getpid())
    endpoint = topology.endpoint
    if endpoint is None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind((LOOPBACK, 0))
        listener.listen(128)
        endpoint = f"{LOOPBACK}:{listener.getsockname()[1]}"
        _stores_on_loopback(listener)
        os.environ["GLOO_SOCKET_IFNAME"] = "lo"
        os.environ["MASTER_ADDR"] = LOOPBACK
    parsed = get_args_parser().parse_args(
        [
            "--nnodes",
            str(topology.nodes),
            "--nproc-per-node",
            str(topology.processes),
            "--node-rank",
            str(topology.node_rank),
            "--rdzv-backend",
            "c10d",
            "--rdzv-endpoint",
            endpoint,
            "--rdzv-id",
            job_id,
            "--max-restarts",
            "0",
            "--monitor-interval",
            "0.5",
            "-m",
            module,
            *args,
        ]
    )
    logger.info(
        "launching %d rank(s) per node on %d node(s), rendezvous %s", topology.processes, topology.nodes, endpoint
    )
    try:
        torchrun(parsed)  # type: ignore[no-untyped-call]
    except ChildFailedError as error:
        rank, failure = error.get_first_failure()
        ended = read_exit(failure.exitcode)
        logger.error("rank %d ended first: %s", rank, ended.describe())
        return ended.shell_code  # a signal as a container reports it (128 + N)
    except (RendezvousError, OSError) as error:
        logger.error("the ranks could not meet: %s", error)
        return WorkerExit.FAILED
    except Exception as error:  # the agent itself stopped by a signal (SIGTERM: preemption, shutdown)
        if type(error).__name__ == "SignalException":
            logger.warning("interrupted: %s", error)
            return WorkerExit.INTERRUPTED
        raise
    return WorkerExit.OK
