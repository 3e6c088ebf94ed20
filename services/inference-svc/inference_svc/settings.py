"""inference-svc settings: env prefix AUTOML_INFERENCE_, falling back to AUTOML_."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from automl_common.settings import ServiceSettings


class InferenceSettings(ServiceSettings):
    service_name: ClassVar[str] = "inference-svc"
    default_port: ClassVar[int] = 8084
    model_config = SettingsConfigDict(env_prefix="AUTOML_INFERENCE_", extra="ignore")

    trainer_url: str = Field(default="http://127.0.0.1:8083", description="where trainer-svc is")
    snapshot_url: str = Field(default="http://127.0.0.1:8082", description="where snapshot-svc is")
    dataset_url: str = Field(default="http://127.0.0.1:8081", description="where dataset-svc is")

    ray_address: str | None = Field(default=None, description="a Ray cluster (ray://... or auto); unset: a local Ray")
    ray_require_auth: bool = Field(
        default=True, description="cluster mode: refuse a Ray cluster unless RAY_AUTH_MODE=token is set"
    )
    ray_stop_on_shutdown: bool = Field(
        default=True, description="local Ray: stop it (every process of it) when inference-svc stops"
    )
    ray_num_cpus: int = Field(default=2, ge=1, le=1024, description="CPUs of the local Ray")
    serve_app_prefix: str = Field(
        default="automl", max_length=40, pattern=r"^[a-z][a-z0-9-]*$", description="prefix of Serve app names"
    )
    replica_num_cpus: float = Field(default=0.25, gt=0, le=64, description="CPU request of each replica")
    replica_num_gpus: float = Field(default=0.0, ge=0, le=8, description="GPU request of each replica")
    replica_torch_threads: int = Field(default=1, ge=0, le=256, description="torch threads per replica; 0: all")
    replica_cache_dir: Path | None = Field(
        default=None, description="model files on replica hosts; default <data>/serve"
    )
    upscale_delay_s: float = Field(default=2.0, ge=0, le=3600, description="load must last this long to add replicas")
    downscale_delay_s: float = Field(default=30.0, ge=0, le=36000, description="idle this long to remove replicas")
    health_check_period_s: float = Field(default=10.0, gt=0, le=600)
    max_replicas_per_deployment: int = Field(default=8, ge=1, le=64)
    max_deployments_per_org: int = Field(default=20, ge=1, le=10_000, description="live deployments of one org")
    max_replicas_per_org: int = Field(
        default=32, ge=1, le=100_000, description="sum of max_replicas over one org's deployments"
    )
    max_pending_tasks_per_org: int = Field(default=1000, ge=1, le=10_000_000, description="queued or running tasks")
    max_active_batches_per_org: int = Field(default=4, ge=1, le=1000, description="queued or running batches")
    playground_max_replicas: int = Field(default=1, ge=1, le=64)
    generation_slice_s: float = Field(
        default=0.5,
        gt=0,
        le=3600,
        description="on replicas shared by orgs: how long a reply generates while others wait before yielding",
    )
    playground_calls_per_org: int = Field(
        default=2, ge=1, le=1000, description="llm playground generations one org may run at once (shared replicas)"
    )
    shared_max_adapters: int = Field(
        default=32, ge=1, le=4096, description="LoRA llm adapters a shared-base deployment replica keeps loaded"
    )
    playground_max_adapters: int = Field(
        default=8, ge=1, le=1024, description="LoRA llm adapters one base model's playground replica keeps loaded"
    )
    shared_max_head_bytes: int = Field(
        default=512 * 1024**2,
        ge=1024,
        le=64 * 1024**3,
        description="classifier heads a shared-base deployment replica keeps loaded (its org's last-layer models)",
    )
    share_classifiers_by_default: bool = Field(
        default=True,
        description="a deployment of a last-layer classifier that does not say share_base is served from its "
        "org's shared replicas for its base model (the encoder held once, its heads beside it); false: such a "
        "deployment gets replicas of its own unless it asks for share_base",
    )
    playground_shared_heads: bool = Field(
        default=True,
        description="the playground answers last-layer classifiers on one replica per base model (its encoder "
        "held once, each model's heads loaded beside it); false: each model loaded whole, as other models are",
    )
    playground_max_head_bytes: int = Field(
        default=512 * 1024**2, ge=1024, le=64 * 1024**3, description="heads one shared-encoder replica keeps loaded"
    )

    max_inputs_per_request: int = Field(default=64, ge=1, le=10_000, description="inputs in one predict call")
    max_text_chars: int = Field(default=20_000, ge=1, le=1_000_000, description="characters of one text input")
    max_prompt_chars: int = Field(
        default=50_000, ge=1, le=1_000_000, description="characters of one llm prompt (all its messages)"
    )
    max_new_tokens: int = Field(default=1024, ge=1, le=4096, description="tokens one llm reply may ask for")
    max_image_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024, description="of one image")
    max_image_pixels: int = Field(default=40_000_000, ge=1024, le=500_000_000, description="width x height")
    image_fetch_timeout_s: float = Field(default=10.0, gt=0, le=120, description="fetching one image URL")
    allow_private_image_urls: bool = Field(
        default=False, description="demo: let image URLs reach private addresses (a local image server)"
    )
    predict_timeout_s: float = Field(default=60.0, gt=0, le=3600, description="a predict call waits this long")
    reconcile_interval_s: float = Field(default=1.0, gt=0, le=60, description="how often Serve's state is read")
    usage_flush_interval_s: float = Field(
        default=5.0, gt=0, le=3600, description="how often the tokens generated are written"
    )

    batch_max_rows: int = Field(default=1_000_000, ge=1, le=100_000_000, description="rows of one batch prediction")
    batch_chunk_rows: int = Field(default=32, ge=1, le=1024, description="rows sent to the model in one call")
    batch_chunks_in_flight: int = Field(default=4, ge=1, le=64, description="calls one batch keeps waiting at once")
    batch_max_running: int = Field(default=2, ge=1, le=64, description="batch predictions run at once; others queue")
    batch_ready_timeout_s: float = Field(
        default=600.0, gt=0, le=86_400, description="how long a batch waits for its deployment to be ready"
    )

    allow_private_callbacks: bool = Field(default=False, description="demo: let callback URLs reach private addresses")
    callback_max_attempts: int = Field(default=5, ge=1, le=50)
    callback_backoff_s: float = Field(default=1.0, gt=0, le=600, description="first retry delay; doubles each time")
    callback_timeout_s: float = Field(default=10.0, gt=0, le=120)

    @property
    def resolved_replica_cache_dir(self) -> Path:
        return (self.replica_cache_dir or self.data_dir / "serve").resolve()
