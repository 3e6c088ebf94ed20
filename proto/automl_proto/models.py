"""Public schemas of base models and models (training runs), served by trainer-svc through the gateway."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from automl_proto.ids import ResourceId

ModelType = Literal["text_classification", "image_classification", "llm"]
Method = Literal["last_layer", "lora", "full"]
ModelStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
BaseModelStatus = Literal["available", "importing", "ready", "failed", "missing"]
# Mixed precision: "auto" is bf16 autocast on a GPU that has bf16 and fp32 elsewhere; "fp16" (older GPUs)
# scales the loss so small gradients do not underflow.
Precision = Literal["auto", "bf16", "fp16", "fp32"]
SelectionMetric = Literal[
    "f1", "precision", "recall", "specificity", "balanced_accuracy", "accuracy", "average_precision", "roc_auc", "loss"
]

# What each method defaults to when an option is left out: the frozen encoder's heads train on cached
# embeddings, so they can afford many epochs and a large learning rate.
METHOD_DEFAULTS: dict[str, dict[str, Any]] = {
    "last_layer": {"max_epochs": 100, "learning_rate": 1e-2, "batch_size": 64},
    "lora": {"max_epochs": 4, "learning_rate": 5e-4, "batch_size": 32},
    "full": {"max_epochs": 3, "learning_rate": 5e-5, "batch_size": 32},
}


class BaseModelInfo(BaseModel):
    id: str
    name: str
    model_type: ModelType
    methods: list[Method]
    description: str
    builtin: bool
    status: BaseModelStatus
    sha256: str | None = None
    error: str | None = None
    created_at: datetime | None = None


class BaseModelRegister(BaseModel):
    """Register an org's own base model: a transformers folder in the object store, or a Hugging Face model
    id (on a cluster that reaches the hub). Either is imported into the store when a model first uses it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    model_type: ModelType = "text_classification"
    store_path: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description="a folder under orgs/<org id>/ in the object store holding the model files",
    )
    hf_id: str | None = Field(
        default=None, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?$"
    )
    revision: str | None = Field(default=None, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = Field(default="", max_length=2000)
    methods: list[Method] | None = Field(
        default=None, min_length=1, description="default: every method the model type has"
    )

    @model_validator(mode="after")
    def _one_source(self) -> BaseModelRegister:
        if (self.store_path is None) == (self.hf_id is None):
            raise ValueError("give exactly one of store_path and hf_id")
        if self.revision is not None and self.hf_id is None:
            raise ValueError("revision goes with hf_id")
        return self


class EarlyStopping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    patience: int = Field(default=3, ge=1, le=1000, description="evaluations without improvement before stopping")
    min_delta: float = Field(default=0.0, ge=0, le=1)


class Selection(BaseModel):
    """Which evaluation picks the kept weights: the best ``metric`` on the validation part."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)

    metric: SelectionMetric = "f1"
    head: str | None = Field(default=None, max_length=200, description="default: the macro average across heads")
    class_: str | None = Field(default=None, alias="class", max_length=500)

    @model_validator(mode="after")
    def _class_needs_head(self) -> Selection:
        if self.class_ is not None and self.head is None:
            raise ValueError("selection.class needs selection.head")
        if self.metric == "accuracy" and self.class_ is not None:
            raise ValueError("accuracy is not a per-class metric")
        return self


class LoraOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    r: int = Field(default=8, ge=1, le=256)
    alpha: int = Field(default=16, ge=1, le=1024)
    dropout: float = Field(default=0.1, ge=0, lt=1)
    target_modules: list[str] | None = Field(default=None, max_length=50, description="default: the base model's")


class TrainingOptions(BaseModel):
    """Every option is bounded; those left out take the method's defaults (``METHOD_DEFAULTS``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    max_epochs: int | None = Field(default=None, ge=1, le=1000)
    learning_rate: float | None = Field(default=None, gt=0, le=1)
    head_learning_rate: float | None = Field(default=None, gt=0, le=1, description="lora/full; default 1e-3")
    batch_size: int | None = Field(default=None, ge=1, le=1024)
    weight_decay: float = Field(default=0.01, ge=0, le=1)
    warmup_ratio: float = Field(default=0.1, ge=0, le=0.5)
    eval_strategy: Literal["epoch", "steps"] = "epoch"
    eval_steps: int = Field(default=100, ge=1, le=1_000_000)
    early_stopping: EarlyStopping | None = None
    selection: Selection = Field(default_factory=Selection)
    class_weights: Literal["none", "balanced"] | dict[str, dict[str, float]] = "none"
    seed: int = Field(default=42, ge=0, le=2**31 - 1)
    max_length: int = Field(default=128, ge=8, le=512, description="text: tokens per text")
    image_size: int | None = Field(
        default=None, ge=32, le=512, description="images: the side of the centre crop; default: the base model's"
    )
    augment: bool = Field(
        default=False,
        description="images, full fine-tune: random resized crops, flips and colour jitter while training",
    )
    validation_pct: float = Field(default=10.0, ge=1, le=50, description="of the training rows, held out")
    lora: LoraOptions = Field(default_factory=LoraOptions)
    precision: Precision = Field(
        default="auto", description="mixed precision of the steps; auto: bf16 on a GPU that supports it, else fp32"
    )
    gpus: int | None = Field(
        default=None, ge=1, le=64, description="processes (GPUs) per node; default: the platform's (one locally)"
    )
    nodes: int = Field(default=1, ge=1, le=64, description="nodes; gpus x nodes > 1 trains with torch.distributed")
    deadline_s: int | None = Field(
        default=None, ge=60, le=30 * 24 * 3600, description="stop the run after this long; default: the platform's"
    )

    @property
    def world_size(self) -> int:
        return (self.gpus or 1) * self.nodes

    @model_validator(mode="after")
    def _custom_weights_positive(self) -> TrainingOptions:
        if isinstance(self.class_weights, dict):
            for head, weights in self.class_weights.items():
                for name, weight in weights.items():
                    if not 0 < weight <= 1000:
                        raise ValueError(f"class_weights.{head}.{name} must be in (0, 1000]")
        return self

    def resolved(self, method: str, type_defaults: dict[str, Any] | None = None) -> TrainingOptions:
        """These options with the method's defaults filled in (``type_defaults``: a model type's own for it)."""
        defaults = METHOD_DEFAULTS[method] | (type_defaults or {})
        filled = {key: value for key, value in defaults.items() if getattr(self, key) is None}
        return self.model_copy(update=filled)


class ModelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    model_type: ModelType | None = Field(default=None, description="default: the training snapshot's type")
    base_model: str = Field(min_length=1, max_length=200)
    method: Method
    train_snapshot_id: ResourceId
    test_snapshot_id: ResourceId | None = None
    test_split_pct: float | None = Field(default=None, gt=0, lt=100)
    parent_model_id: ResourceId | None = None
    options: TrainingOptions = Field(default_factory=TrainingOptions)

    @model_validator(mode="after")
    def _one_test_source(self) -> ModelCreate:
        if (self.test_snapshot_id is None) == (self.test_split_pct is None):
            raise ValueError("give exactly one of test_snapshot_id and test_split_pct")
        return self


class TrainingProgress(BaseModel):
    step: int = 0
    total_steps: int | None = None
    epoch: float = 0
    loss: float | None = None
    examples_per_s: float | None = None
    eta_s: float | None = None
    validation_metric: float | None = None
    waiting: str | None = Field(default=None, description="while queued: what the job waits for (a GPU, a queue)")
    queue_position: int | None = Field(
        default=None, description="while queued for a training slot: how many runs get one before this run"
    )


class Model(BaseModel):
    id: str
    name: str
    description: str
    model_type: ModelType
    base_model: str
    method: Method
    train_snapshot_id: str
    test_snapshot_id: str | None
    test_split_pct: float | None
    split_id: str | None
    parent_model_id: str | None
    options: dict[str, Any]
    status: ModelStatus
    progress: TrainingProgress
    metrics: dict[str, Any] | None = Field(description="summary: overall and per-head macro figures, chosen epoch")
    error: str | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class ModelEvent(BaseModel):
    seq: int
    kind: str
    message: str
    data: dict[str, Any]
    created_at: datetime
