"""Job specs for backend tests, and the in-memory fake backend (it passes the same contract as the real ones)."""

from __future__ import annotations

from typing import Any

from automl_proto.models import TrainingOptions
from automl_proto.training import BaseModelFiles, JobSpec, SnapshotFiles
from trainer_svc.jobs.backend import JobStatus


def job_spec(
    model_name: str = "model", attempt: int = 1, model_id: str = "model_01JTESTMODEL0000000000000A", **options: Any
) -> JobSpec:
    return JobSpec(
        job_id=f"{model_id}-{attempt}",
        model_id=model_id,
        org_id="org_01JTESTORG000000000000000A",
        model_name=model_name,
        model_type="text_classification",
        method="full",
        base_model=BaseModelFiles(id="tiny", name="tiny", sha256="0" * 64, store_prefix="base-models/tiny/"),
        train=SnapshotFiles(
            id="snap_1", sha256="1" * 64, data_key="snapshots/snap_1/data.parquet", heads=[], row_count=1
        ),
        split_key="snapshots/snap_1/split.parquet",
        options=TrainingOptions.model_validate(options),
        output_prefix=f"models/{model_id}/",
        events_url="http://127.0.0.1:9/jobs/x/events",
        token="job-token-" + "x" * 30,
        attempt=attempt,
    )


class FakeBackend:
    """Jobs in memory; a test says how each ends (``end``) or that it runs (``start``)."""

    def __init__(self, slots: int = 1_000) -> None:
        self.jobs: dict[str, JobStatus] = {}
        self.specs: dict[str, JobSpec] = {}
        self.log_lines: dict[str, list[str]] = {}
        self.submissions = 0
        self.slots = slots

    def handle_for(self, spec: JobSpec) -> str:
        return f"fake:{spec.job_id}"

    async def submit(self, spec: JobSpec) -> str:
        handle = self.handle_for(spec)
        self.submissions += 1
        if handle not in self.jobs:
            self.jobs[handle] = JobStatus("pending", reason="waiting for the fake scheduler")
        self.specs[handle] = spec
        return handle

    def start(self, handle: str, lines: list[str] | None = None) -> None:
        self.jobs[handle] = JobStatus("running")
        self.log_lines[handle] = lines or []

    def end(self, handle: str, code: int) -> None:
        self.jobs[handle] = JobStatus.exited(code)

    async def status(self, handle: str) -> JobStatus:
        return self.jobs.get(handle) or JobStatus("absent", reason="no such job")

    async def logs(self, handle: str, tail_lines: int) -> str:
        return "\n".join(self.log_lines.get(handle, [])[-tail_lines:])

    async def cancel(self, handle: str) -> None:
        status = self.jobs.get(handle)
        if status is not None and not status.finished:
            self.jobs[handle] = JobStatus.exited(-15)

    def free_slots(self) -> int:
        return self.slots - sum(1 for status in self.jobs.values() if not status.finished)

    def forget(self, handle: str) -> None:
        self.jobs.pop(handle, None)

    async def aclose(self) -> None:
        return None
