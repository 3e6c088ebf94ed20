"""trainer-svc settings: env prefix AUTOML_TRAINER_, falling back to AUTOML_."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, ClassVar, Literal

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
    job_backend: Literal["local", "kubernetes"] = Field(
        default="local", description="local: worker subprocesses on this host; kubernetes: one Job per run"
    )
    max_active_trainings_per_org: int = Field(
        default=10, ge=1, le=100_000, description="queued or running trainings of one org"
    )
    max_concurrent_jobs: int = Field(default=1, ge=1, le=64, description="local backend: more wait queued")
    max_world_size: int = Field(default=8, ge=1, le=1024, description="gpus x nodes one model may ask for")
    max_local_processes: int = Field(default=4, ge=1, le=64, description="local backend: processes of one job")
    job_deadline_s: int = Field(default=24 * 3600, ge=60, description="a run is stopped after this long")
    max_job_deadline_s: int = Field(default=7 * 24 * 3600, ge=60, description="the most a model's option may ask")
    checkpoint_every_steps: int = Field(default=0, ge=0, description="also checkpoint every N steps; 0: off")
    checkpoint_every_s: float = Field(default=600.0, ge=0, description="also checkpoint this often; 0: off")
    job_max_attempts: int = Field(
        default=2, ge=1, le=10, description="a worker killed by a signal is restarted (from its checkpoint) this often"
    )
    cancel_grace_s: float = Field(default=5.0, gt=0, le=60, description="SIGTERM, then SIGKILL after this long")
    dispatch_interval_s: float = Field(default=0.5, gt=0, le=60)
    max_exports_per_org: int = Field(default=2, ge=1, le=100, description="llm exports one org may build at once")
    max_exports: int = Field(default=2, ge=1, le=100, description="llm exports built at once (the rest wait)")
    export_timeout_s: float = Field(default=1800.0, gt=0, description="an export's build is stopped after this")
    worker_device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto", description="local backend: the workers' device (cuda fails a run when no GPU is seen)"
    )
    worker_threads: int = Field(default=0, ge=0, le=256, description="torch threads per local job; 0: all cores")
    worker_python: str = Field(default=sys.executable, description="the interpreter that runs local workers")
    worker_cache_dir: Path | None = Field(default=None, description="base models and tokens; default <data dir>/cache")
    log_tail_lines: int = Field(default=20, ge=1, le=500, description="worker log lines kept with a failure")
    max_events_page: int = Field(default=500, ge=1, le=5000)

    # -- the Kubernetes backend ------------------------------------------------------------------------------
    k8s_namespace: str | None = Field(default=None, description="default: this pod's namespace, else 'default'")
    k8s_kubeconfig: Path | None = Field(default=None, description="default: in-cluster config, else ~/.kube/config")
    k8s_context: str | None = None
    k8s_image: str = Field(default="automl/trainer-worker:latest", description="the worker's image")
    k8s_image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    k8s_command: list[str] = Field(default_factory=lambda: ["python", "-m", "trainer_svc.worker"])
    k8s_service_account: str | None = Field(default=None, description="the worker pods' (its API token unmounted)")
    k8s_gpu_resource: str = Field(default="nvidia.com/gpu", description="the extended resource GPUs are")
    k8s_default_gpus: int = Field(default=1, ge=0, le=64, description="GPUs per pod when a model asks none")
    k8s_cpu_request: str = "2"
    k8s_cpu_limit: str | None = "8"
    k8s_memory_request: str = "8Gi"
    k8s_memory_limit: str | None = "32Gi"
    k8s_shm_size: str = Field(default="2Gi", description="shared memory of a worker pod (NCCL and data loaders use it)")
    k8s_node_selector: dict[str, str] = Field(default_factory=dict)
    k8s_tolerations: list[dict[str, Any]] = Field(default_factory=list)
    k8s_priority_class: str | None = None
    k8s_kueue_queue: str | None = Field(default=None, description="a Kueue LocalQueue: Jobs are created suspended")
    k8s_backoff_limit: int = Field(default=0, ge=0, le=10, description="pod failures a Job itself retries")
    k8s_ttl_s: int = Field(default=3600, ge=0, description="a finished Job is deleted after this long")
    k8s_termination_grace_s: int = Field(default=60, ge=1, le=3600, description="SIGTERM to SIGKILL in a pod")
    k8s_embedding_cache_claim: str | None = Field(
        default=None,
        description="a ReadWriteMany PersistentVolumeClaim where last-layer runs keep their frozen encoder's "
        "embeddings between Jobs, each Job mounting its own org's folder of it only; default: none (a Job's "
        "embeddings last as long as it does)",
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
    )
    k8s_config_map: str | None = Field(default=None, description="envFrom: the worker's settings")
    k8s_secret: str | None = Field(default=None, description="envFrom: the worker's store credentials")
    k8s_rendezvous_port: int = Field(default=29500, ge=1, le=65535)
    k8s_api_attempts: int = Field(default=5, ge=1, le=20, description="5xx and connection errors are retried")
    k8s_api_backoff_s: float = Field(default=0.5, gt=0, le=30)
    k8s_max_jobs: int = Field(default=100, ge=1, le=100_000, description="Jobs not finished at once; more wait")
    k8s_labels: dict[str, str] = Field(default_factory=dict, description="added to every Job and pod")

    @property
    def resolved_public_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.listen_port}"

    @property
    def resolved_cache_dir(self) -> Path:
        return (self.worker_cache_dir or self.data_dir / "cache").resolve()
