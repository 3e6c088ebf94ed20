"""The Ray that inference-svc starts on one host: confined to loopback and token-authenticated, holding no
platform secret, and every process of it marked so that none outlives the service, even a killed one.

Ray starts some of its processes (the dashboard and runtime-env agents) in sessions of their own, where
stopping the service's process group does not reach them, and a ``kill -9`` of the service leaves all of them
running. So each process Ray starts inherits a mark in its environment, ``AUTOML_RAY_OWNER=<pid>-<scope>-<id>``:
the service stops the processes with its own mark when it stops, and at start-up the processes of its scope
(its data dir) whose owner is dead. Linux: marks are read from /proc; elsewhere none is found."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from automl_common.environ import drop_secrets
from automl_common.settings import read_or_create_secret

logger = logging.getLogger("automl.inference.ray")

RAY_MARK = "AUTOML_RAY_OWNER"


def scope_of(data_dir: Path) -> str:
    return hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:12]


def mark(scope: str) -> str:
    """Mark this process's environment (so the Ray it starts next); returns the mark."""
    value = f"{os.getpid()}-{scope}-{uuid.uuid4().hex}"
    os.environ[RAY_MARK] = value
    return value


def confine(token_path: Path | None) -> None:
    """Before ``ray.init`` of a local Ray: loopback only, a token of this platform's own, no secret inherited.

    Ray's gRPC servers (GCS, raylet, every worker) bind all interfaces and advertise the host's address unless
    Ray runs in its single-host mode, where the node address is loopback and every server binds it. That mode
    is an environment switch its processes read at import (the children inherit it) and a constant this
    process has already read (so it is set here too). Token authentication is on, with the token in a 0600
    file of the data dir (its path, not the token, is what Ray's processes inherit). Ray's processes are
    spawned from this process's environment: the platform's secrets are dropped from it first."""
    from ray._private import ray_constants

    os.environ[ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    if token_path is not None:
        # Token mode is set here, before any Ray process starts, as Ray itself sets it for a new local cluster
        # (the environment, which every child inherits, then Ray's cached configuration refreshed, so this
        # process sees it too); the token is read from this path.
        from ray._private.authentication.authentication_token_setup import AUTH_MODE_ENV_VAR
        from ray._raylet import Config  # type: ignore[attr-defined]

        read_or_create_secret(token_path)
        os.environ["RAY_AUTH_TOKEN_PATH"] = str(token_path.resolve())
        os.environ.pop("RAY_AUTH_TOKEN", None)
        os.environ[AUTH_MODE_ENV_VAR] = "token"
        Config.initialize("")
    dropped = drop_secrets()
    if dropped:
        logger.info("dropped %d secret(s) from the environment before starting Ray", len(dropped))


def stop_marked(value: str, grace_s: float = 3.0) -> int:
    """Stop every process carrying exactly this mark; how many there were."""
    return _stop(_marked(lambda found: found == value), grace_s)


def sweep_orphans(scope: str, grace_s: float = 3.0) -> int:
    """Stop the processes of ``scope`` whose owner (the inference-svc that started them) is dead."""

    def orphaned(found: str) -> bool:
        owner, _, rest = found.partition("-")
        return rest.startswith(scope + "-") and owner.isdigit() and not _alive(int(owner))

    return _stop(_marked(orphaned), grace_s)


def _marked(match: Callable[[str], bool]) -> list[int]:
    prefix = f"{RAY_MARK}=".encode()
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        pid = int(proc.name)
        if pid == os.getpid():
            continue
        try:
            entries = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        for entry in entries:
            if entry.startswith(prefix) and match(entry[len(prefix) :].decode(errors="replace")):
                found.append(pid)
                break
    return found


def _stop(pids: list[int], grace_s: float) -> int:
    """SIGTERM, then SIGKILL what is still alive after ``grace_s``."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if _alive(pid)]
        time.sleep(0.05)
    for pid in alive:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return len(pids)


def _alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting for its parent)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
