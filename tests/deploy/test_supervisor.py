"""`make up`'s supervisor (deploy/local/up.py): a service that dies is started again after a backoff that grows
while it keeps dying and resets once it stays up; the others are left alone; each death and restart is logged.
(The whole platform under `make up` with services killed: tests/faults/test_supervised.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deploy.local import up


class FakeProcess:
    count = 0

    def __init__(self) -> None:
        FakeProcess.count += 1
        self.pid = 1000 + FakeProcess.count
        self.returncode: int | None = None

    def poll(self) -> int | None:
        return self.returncode


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    names: list[str] = []

    def fake_start(service: up.Service, env: dict[str, str], log_dir: Path) -> Any:
        names.append(service.name)
        return FakeProcess()

    monkeypatch.setattr(up, "start", fake_start)
    return names


def test_a_dead_service_is_restarted_with_a_growing_backoff(tmp_path: Path, started: list[str]) -> None:
    now = [0.0]
    processes: dict[str, Any] = {service.name: FakeProcess() for service in up.SERVICES}
    supervisor = up.Supervisor(processes, {}, tmp_path, clock=lambda: now[0])
    supervisor.step()
    assert started == []
    restarts_at: list[float] = []
    for _ in range(4):  # it dies at once each time it is started
        supervisor.services["dataset-svc"].process.returncode = -9
        supervisor.step()  # the death is seen: a restart is scheduled
        while not started or len(started) <= len(restarts_at):
            now[0] += 0.5
            supervisor.step()
        restarts_at.append(now[0])
    gaps = [b - a for a, b in zip([0.0, *restarts_at], restarts_at, strict=False)]
    assert gaps == pytest.approx([1.0, 2.0, 4.0, 8.0], abs=0.5)
    assert started == ["dataset-svc"] * 4  # the others were never touched
    assert all(supervisor.services[name].restarts == 0 for name in supervisor.services if name != "dataset-svc")
    log = (tmp_path / "supervisor.log").read_text()
    assert "dataset-svc (pid" in log and "exited with signal 9; restarting in 1 s" in log
    assert "dataset-svc restarted (pid" in log and "restart 4)" in log

    # Up for a minute: the next death waits the first backoff again.
    now[0] += up.STABLE_AFTER_S + 1
    supervisor.step()
    supervisor.services["dataset-svc"].process.returncode = 1
    supervisor.step()
    died_at = now[0]
    while len(started) < 5:
        now[0] += 0.5
        supervisor.step()
    assert now[0] - died_at == pytest.approx(1.0, abs=0.5)
    assert "exited with code 1" in (tmp_path / "supervisor.log").read_text()
