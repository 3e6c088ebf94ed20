"""What the worker reads from its environment (prefix AUTOML_WORKER_, falling back to AUTOML_): the object
store's settings, its cache and its thread count. The job itself comes in the spec."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from automl_common.settings import ServiceSettings


class WorkerSettings(ServiceSettings):
    service_name: ClassVar[str] = "trainer-worker"
    model_config = SettingsConfigDict(env_prefix="AUTOML_WORKER_", extra="ignore")

    cache_dir: Path = Field(default=Path(".automl/cache"), description="base models and token ids, by content hash")
    embedding_cache_bytes: int = Field(
        default=2 * 1024**3, ge=0, description="a frozen encoder's embeddings kept between runs, per org; 0: off"
    )
    threads: int = Field(default=0, ge=0, le=256, description="torch threads; 0: torch's default")
    event_attempts: int = Field(default=5, ge=1, le=50)
    checkpoint_every_steps: int = Field(default=0, ge=0, description="also checkpoint every N steps; 0: off")
    checkpoint_every_s: float = Field(default=600.0, ge=0, description="also checkpoint this often; 0: off")
    device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto", description="cuda: fail unless torch sees a GPU; cpu: never use one; auto: a GPU if any"
    )
    dist_backend: Literal["auto", "nccl", "gloo"] = Field(
        default="auto", description="torch.distributed's backend; auto: NCCL on GPUs, gloo on CPUs"
    )
    # Set in a Kubernetes pod (the Job says them); locally 0: every rank of the model's options on this host.
    nproc_per_node: int = Field(default=0, ge=0, le=64)
    nnodes: int = Field(default=1, ge=1, le=1024)
    node_rank: int = Field(default=0, ge=0)
    rdzv_endpoint: str | None = Field(default=None, description="host:port of rank 0's pod, across nodes")

    def _check_cluster_secrets(self) -> WorkerSettings:  # type: ignore[override]
        return self  # a worker holds neither the internal token nor a database: only its job's token


def worker_environment(
    settings: ServiceSettings,
    cache_dir: Path,
    threads: int,
    checkpoint_every_steps: int = 0,
    checkpoint_every_s: float = 0,
    device: str = "auto",
) -> dict[str, str]:
    """The environment a local worker needs to reach the same object store as trainer-svc."""
    env = {
        "AUTOML_WORKER_DEVICE": device,
        "AUTOML_WORKER_CHECKPOINT_EVERY_STEPS": str(checkpoint_every_steps),
        "AUTOML_WORKER_CHECKPOINT_EVERY_S": str(checkpoint_every_s),
        "AUTOML_WORKER_MODE": settings.mode,
        "AUTOML_WORKER_DATA_DIR": str(settings.data_dir.resolve()),
        "AUTOML_WORKER_STORE_BACKEND": settings.resolved_store_backend,
        "AUTOML_WORKER_STORE_ROOT": str(settings.resolved_store_root),
        "AUTOML_WORKER_S3_BUCKET": settings.s3_bucket,
        "AUTOML_WORKER_S3_REGION": settings.s3_region,
        "AUTOML_WORKER_S3_CREATE_BUCKET": "false",
        "AUTOML_WORKER_CACHE_DIR": str(cache_dir),
        "AUTOML_WORKER_THREADS": str(threads),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    if settings.s3_endpoint_url:
        env["AUTOML_WORKER_S3_ENDPOINT_URL"] = settings.s3_endpoint_url
    if settings.s3_access_key_id:
        env["AUTOML_WORKER_S3_ACCESS_KEY_ID"] = settings.s3_access_key_id
    if settings.s3_secret_access_key:
        env["AUTOML_WORKER_S3_SECRET_ACCESS_KEY"] = settings.s3_secret_access_key.get_secret_value()
    return env
