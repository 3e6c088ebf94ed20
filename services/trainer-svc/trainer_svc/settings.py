"""trainer-svc settings: env prefix AUTOML_TRAINER_, falling back to AUTOML_."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from automl_common.settings import ServiceSettings


class TrainerSettings(ServiceSettings):
    service_name: ClassVar[str] = "trainer-svc"
    default_port: ClassVar[int] = 8083
    model_config = SettingsConfigDict(env_prefix="AUTOML_TRAINER_", extra="ignore")

    snapshot_url: str = Field(default="http://127.0.0.1:8082", description="where snapshot-svc is")
    public_url: str | None = Field(
        default=None, description="where training workers reach trainer-svc; default http://<host>:<port>"
    )
    job_backend: Literal["local"] = Field(default="local", description="local: worker subprocesses on this host")
    max_active_trainings_per_org: int = Field(
        default=10, ge=1, le=100_000, description="queued or running trainings of one org"
    )
    max_concurrent_jobs: int = Field(default=1, ge=1, le=64, description="local backend: more wait queued")
    job_max_attempts: int = Field(
        default=2, ge=1, le=10, description="a worker killed by a signal is restarted (from its checkpoint) this often"
    )
    cancel_grace_s: float = Field(default=5.0, gt=0, le=60, description="SIGTERM, then SIGKILL after this long")
    dispatch_interval_s: float = Field(default=0.5, gt=0, le=60)
    worker_threads: int = Field(default=0, ge=0, le=256, description="torch threads per local job; 0: all cores")
    worker_python: str = Field(default=sys.executable, description="the interpreter that runs local workers")
    worker_cache_dir: Path | None = Field(default=None, description="base models and tokens; default <data dir>/cache")
    log_tail_lines: int = Field(default=20, ge=1, le=500, description="worker log lines kept with a failure")
    max_events_page: int = Field(default=500, ge=1, le=5000)

    @property
    def resolved_public_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.listen_port}"

    @property
    def resolved_cache_dir(self) -> Path:
        return (self.worker_cache_dir or self.data_dir / "cache").resolve()
