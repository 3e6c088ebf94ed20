"""Public schemas of base models and models (training runs), served by trainer-svc through the gateway."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from automl_proto.ids import ResourceId
from automl_proto.model_types import NAMES, ModelTypeName

ModelType = ModelTypeName  # one of automl_proto.model_types.NAMES
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

# A run that continues from its parent's heads (every class of every head it trains is one of the parent's)
# starts where the parent converged: where its options give no max_epochs, it takes this many instead of the
# method's default (bench/retrain_embeddings: the same validation figure as 100 epochs from scratch).
CONTINUED_MAX_EPOCHS: dict[str, int] = {"last_layer": 10}


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

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "my-bert", "model_type": "text_classification", "hf_id": "prajjwal1/bert-tiny"}]
        },
    )

    name: str = Field(description="the base model's name in the org (1-200 characters)", min_length=1, max_length=200)
    model_type: ModelType = Field(default="text_classification", description=f"what it is for: {', '.join(NAMES)}")
    store_path: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description="a folder under orgs/<org id>/ in the object store holding the model files",
    )
    hf_id: str | None = Field(
        description="a Hugging Face model id, on a cluster that reaches the hub (or a store folder instead)",
        default=None,
        max_length=200,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?$",
    )
    revision: str | None = Field(
        description="with hf_id: the branch, tag or commit to import",
        default=None,
        max_length=100,
        pattern=r"^[A-Za-z0-9_.-]+$",
    )
    description: str = Field(
        description="a note for the org's users (at most 2000 characters)", default="", max_length=2000
    )
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
    min_delta: float = Field(
        description="the smallest change of the validation metric that counts as an improvement",
        default=0.0,
        ge=0,
        le=1,
    )


class Selection(BaseModel):
    """Which evaluation picks the kept weights: the best ``metric`` on the validation part."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)

    metric: SelectionMetric = Field(
        default="f1",
        description="the validation figure the kept weights are best on: f1, accuracy, precision, recall, "
        "balanced_accuracy or loss",
    )
    head: str | None = Field(default=None, max_length=200, description="default: the macro average across heads")
    class_: str | None = Field(
        description="with head: that class's figure instead of the head's macro average",
        default=None,
        alias="class",
        max_length=500,
    )

    @model_validator(mode="after")
    def _class_needs_head(self) -> Selection:
        if self.class_ is not None and self.head is None:
            raise ValueError("selection.class needs selection.head")
        if self.metric == "accuracy" and self.class_ is not None:
            raise ValueError("accuracy is not a per-class metric")
        return self


class LoraOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    r: int = Field(description="the rank of the adapters: their capacity (default 8)", default=8, ge=1, le=256)
    alpha: int = Field(description="the scale of the adapters' updates (default 16)", default=16, ge=1, le=1024)
    dropout: float = Field(
        description="dropout on the adapters' input while training (default 0.1)", default=0.1, ge=0, lt=1
    )
    target_modules: list[str] | None = Field(default=None, max_length=50, description="default: the base model's")


class TrainingOptions(BaseModel):
    """Every option is bounded; those left out take the method's defaults (``METHOD_DEFAULTS``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    max_epochs: int | None = Field(
        description="passes over the training rows; default: the method's", default=None, ge=1, le=1000
    )
    learning_rate: float | None = Field(
        description="the optimiser's step size; default: the method's", default=None, gt=0, le=1
    )
    head_learning_rate: float | None = Field(default=None, gt=0, le=1, description="lora/full; default 1e-3")
    batch_size: int | None = Field(description="examples per step; default: the method's", default=None, ge=1, le=1024)
    weight_decay: float = Field(
        description="AdamW's pull of the weights toward zero at each step", default=0.01, ge=0, le=1
    )
    warmup_ratio: float = Field(
        description="share of the steps over which the step size rises from zero", default=0.1, ge=0, le=0.5
    )
    eval_strategy: Literal["epoch", "steps"] = Field(
        default="epoch", description="validate after every epoch, or every eval_steps steps"
    )
    eval_steps: int = Field(
        description="with eval_strategy steps: validate every this many steps", default=100, ge=1, le=1_000_000
    )
    early_stopping: EarlyStopping | None = Field(
        default=None, description="stop after patience validations without an improvement; default: never"
    )
    selection: Selection = Field(description="which validation picks the kept weights", default_factory=Selection)
    class_weights: Literal["none", "balanced"] | dict[str, dict[str, float]] = Field(
        default="none",
        description="weigh classes in the loss: none, balanced (rare classes up), or head -> class -> weight",
    )
    seed: int = Field(description="the same seed, data and options give the same model", default=42, ge=0, le=2**31 - 1)
    max_length: int | None = Field(
        default=None,
        ge=8,
        le=4096,
        description="tokens per example: text 128 by default (at most 512; longer texts are cut); llm: room for 99% "
        "of the training rows by default (at most 1024), a longer prompt cut in its middle, its reply kept whole",
    )
    image_size: int | None = Field(
        default=None, ge=32, le=512, description="images: the side of the centre crop; default: the base model's"
    )
    augment: bool | None = Field(
        default=None,
        description="images: random crops or zooms and flips while training (a full fine-tune of a classifier also "
        "jitters colours; boxes and masks move with the image); default: on for detection and segmentation, "
        "off for classification",
    )
    validation_pct: float = Field(default=10.0, ge=1, le=50, description="of the training rows, held out")
    lora: LoraOptions = Field(
        description="method lora: the adapters' rank, scale, dropout and layers", default_factory=LoraOptions
    )
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
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "sentiment",
                    "base_model": "minilm-l6",
                    "train_snapshot_id": "snap_01JEX9Q4W6V8Z3T5N7R2K0M1PB",
                    "test_split_pct": 20,
                    "options": {"max_epochs": 20},
                }
            ]
        },
    )

    name: str = Field(description="the model's name (1-200 characters)", min_length=1, max_length=200)
    description: str = Field(description="a note shown with the model and in its card", default="", max_length=5000)
    model_type: ModelType | None = Field(default=None, description="default: the training snapshot's type")
    base_model: str = Field(
        description="the base model's id or name (GET /v1/base-models)", min_length=1, max_length=200
    )
    method: Method | None = Field(
        default=None, description="default: the type's first that the base model supports (last_layer, or lora for llm)"
    )
    train_snapshot_id: ResourceId = Field(description="the ready snapshot it trains on; its type is the model's")
    test_snapshot_id: ResourceId | None = Field(
        default=None, description="a compatible snapshot to test on (or test_split_pct)"
    )
    test_split_pct: float | None = Field(
        description="test on this share of the training snapshot, a stratified split that keeps duplicates together "
        "(or test_snapshot_id)",
        default=None,
        gt=0,
        lt=100,
    )
    parent_model_id: ResourceId | None = Field(
        default=None,
        description="a succeeded model of the org to start from (retrain, or add heads); a last-layer run whose "
        "heads all start from the parent's takes 10 epochs unless options.max_epochs is given",
    )
    options: TrainingOptions = Field(
        description="training options; every one left out takes the method's default", default_factory=TrainingOptions
    )

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
    options: TrainingOptions = Field(
        description="what the run uses: the options asked for, each left out filled with its default (an llm's "
        "max_length once the worker has chosen it from the training rows)"
    )
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
