"""Inference contracts: deployments, predictions, async tasks, batch predictions, the playground, usage."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from automl_proto.ids import ResourceId

# What a model answers (proto.outputs), named here too: callers take every inference contract from here.
from automl_proto.outputs import Detection as Detection
from automl_proto.outputs import Detections as Detections
from automl_proto.outputs import Generation as Generation
from automl_proto.outputs import HeadPrediction as HeadPrediction
from automl_proto.outputs import Output as Output
from automl_proto.outputs import Prediction as Prediction
from automl_proto.outputs import Segmentation as Segmentation
from automl_proto.outputs import TokenUsage as TokenUsage
from automl_proto.outputs import output_of as output_of

DeploymentStatus = Literal["deploying", "ready", "failed", "deleting"]
TaskStatus = Literal["queued", "running", "succeeded", "failed"]
CallbackStatus = Literal["pending", "delivered", "failed"]
BatchStatus = Literal["queued", "running", "succeeded", "failed"]

_STRICT = ConfigDict(extra="forbid")


class ImageInput(BaseModel):
    """An image by URL (fetched with the SSRF guard) or inline as base64."""

    model_config = _STRICT
    image_url: str | None = Field(
        description="an http(s) URL the platform fetches (private addresses refused)", default=None, max_length=4096
    )
    image_base64: str | None = Field(
        description="the image file's bytes, base64 (at most 16 MiB)", default=None, max_length=16 * 1024 * 1024
    )
    score_threshold: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="object detection only: keep detections scoring at least this (default: the deployment's cut-off "
        "per class, else 0.3)",
    )
    max_detections: int | None = Field(
        default=None, ge=1, le=1000, description="object detection only: the most detections kept (default 100)"
    )

    @model_validator(mode="after")
    def _one_source(self) -> ImageInput:
        if (self.image_url is None) == (self.image_base64 is None):
            raise ValueError("give exactly one of image_url and image_base64")
        return self


class ChatMessage(BaseModel):
    model_config = _STRICT
    role: Literal["system", "user", "assistant"] = Field(description="system, user or assistant")
    content: str = Field(description="the message's text", max_length=200_000)


class GenerationOptions(BaseModel):
    """How an llm model generates: greedy when ``temperature`` is 0, sampled (seeded by ``seed``) otherwise;
    the reply ends at the end-of-sequence token the model was trained to end with, at a ``stop`` string (not
    included), or after ``max_new_tokens``."""

    max_new_tokens: int = Field(description="the reply's most tokens (default 64)", default=64, ge=1, le=4096)
    temperature: float = Field(
        description="0: greedy (the same reply each time); higher: more varied", default=0.0, ge=0, le=2
    )
    top_p: float = Field(
        description="sample from the smallest set of tokens whose probabilities add up to this", default=1.0, gt=0, le=1
    )
    stop: list[str] = Field(default_factory=list, max_length=4, description="at most 4 strings, each 1-64 chars")
    seed: int | None = Field(
        description="with a temperature above 0: the same seed gives the same reply", default=None, ge=0, le=2**31 - 1
    )

    @model_validator(mode="after")
    def _stops_sized(self) -> GenerationOptions:
        if any(not 1 <= len(stop) <= 64 for stop in self.stop):
            raise ValueError("stop: each stop string is 1 to 64 characters")
        return self


class PromptInput(GenerationOptions):
    """One reply from an llm model: to a prompt (one user turn), or to a conversation (``messages``)."""

    model_config = _STRICT
    prompt: str | None = Field(description="one user turn (or messages)", default=None, max_length=200_000)
    messages: list[ChatMessage] | None = Field(
        description="a conversation to reply to (or prompt)", default=None, min_length=1, max_length=500
    )

    @model_validator(mode="after")
    def _one_source(self) -> PromptInput:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("give exactly one of prompt and messages")
        if self.messages is not None and self.messages[-1].role == "assistant":
            raise ValueError("messages: the last message is the assistant's; a reply follows a user or system turn")
        return self

    def characters(self) -> int:
        if self.prompt is not None:
            return len(self.prompt)
        return sum(len(message.content) for message in self.messages or [])


PredictInput = str | ImageInput | PromptInput


class Scaling(BaseModel):
    """Autoscaling and batching of one deployment."""

    min_replicas: int = Field(default=1, ge=0, le=64, description="0 lets the deployment scale to zero")
    max_replicas: int = Field(description="the most replicas autoscaling may start", default=1, ge=1, le=64)
    target_ongoing_requests: float = Field(default=2.0, gt=0, le=1000, description="per replica, drives autoscaling")
    max_batch_size: int = Field(
        default=16, ge=1, le=512, description="inputs one forward pass may hold; 1: no batching"
    )
    batch_wait_timeout_ms: float = Field(
        default=0.0,
        ge=0,
        le=1000,
        description="how long an idle model waits for more inputs after the first; under load, batches fill with "
        "what arrives during the previous forward pass",
    )

    @model_validator(mode="after")
    def _bounds(self) -> Scaling:
        if self.max_replicas < self.min_replicas:
            raise ValueError(f"max_replicas ({self.max_replicas}) is below min_replicas ({self.min_replicas})")
        return self


Thresholds = dict[str, dict[str, float]]


class OperatingPoint(BaseModel):
    """A deployment's cut-offs, per head and class (picked on the model's metrics page, or set here): its
    predictions' ``predicted`` classes follow them. A single-label head predicts the highest-scoring class that
    reaches its cut-off; where none does, the highest-scoring class without a cut-off; where every class has one
    and none is reached, no class (the metrics at a threshold are computed by the same rule). A multi-label head
    predicts every class at or above its cut-off. Every change makes a new version."""

    thresholds: Thresholds = Field(default_factory=dict, description="head -> class -> cut-off in (0, 1)")
    version: int = Field(default=0, description="0: the model's own decisions; +1 each change")
    updated_at: datetime | None = None


class OperatingPointUpdate(BaseModel):
    model_config = _STRICT
    thresholds: Thresholds = Field(max_length=50, description="head -> class -> cut-off; {} clears it")

    @model_validator(mode="after")
    def _cut_offs(self) -> OperatingPointUpdate:
        for head, classes in self.thresholds.items():
            if len(classes) > 1000:
                raise ValueError(f"thresholds.{head}: at most 1000 classes")
            for name, value in classes.items():
                if not 0 < value < 1:
                    raise ValueError(f"thresholds.{head}.{name}: a cut-off is between 0 and 1 (exclusive)")
        return self


class DeploymentCreate(Scaling):
    model_config = _STRICT
    model_id: ResourceId = Field(description="the succeeded model to serve")
    name: str = Field(description="the deployment's name (1-100 characters)", min_length=1, max_length=100)
    share_base: bool | None = Field(
        default=None,
        description="LoRA llm models and last-layer classifiers: served from the org's one replica set for "
        "their base model, which holds the base once and loads each such deployment's adapter (an llm) or heads "
        "(a classifier) beside it, a batch mixing its deployments' inputs (scaled to the largest min_replicas "
        "and max_replicas its deployments ask for). Left out: true for a last-layer classifier (unless the "
        "platform's AUTOML_INFERENCE_SHARE_CLASSIFIERS_BY_DEFAULT is false), false for any other model; false: "
        "replicas of the deployment's own",
    )


class DeploymentUpdate(BaseModel):
    """Only the fields given change; the model stays."""

    model_config = ConfigDict(
        **_STRICT,
        json_schema_extra={
            "examples": [
                {"min_replicas": 0, "max_replicas": 2},
                {"operating_point": {"thresholds": {"sentiment": {"negative": 0.8}}}},
            ]
        },
    )
    name: str | None = Field(description="a new name", default=None, min_length=1, max_length=100)
    min_replicas: int | None = Field(
        description="the fewest replicas kept (0: scale to zero when idle)", default=None, ge=0, le=64
    )
    max_replicas: int | None = Field(description="the most replicas autoscaling may start", default=None, ge=1, le=64)
    target_ongoing_requests: float | None = Field(
        description="requests in flight per replica that autoscaling aims at", default=None, gt=0, le=1000
    )
    max_batch_size: int | None = Field(
        description="inputs one forward pass may hold; 1: no batching", default=None, ge=1, le=512
    )
    batch_wait_timeout_ms: float | None = Field(
        description="how long an idle model waits for more inputs after the first", default=None, ge=0, le=1000
    )
    operating_point: OperatingPointUpdate | None = Field(
        default=None, description="cut-offs per head and class for `predicted`; the replicas stay as they are"
    )


class Replicas(BaseModel):
    running: int
    starting: int
    stopping: int


class Deployment(Scaling):
    id: str
    name: str
    model_id: str
    model_type: str
    share_base: bool = False
    status: DeploymentStatus
    replicas: Replicas
    operating_point: OperatingPoint = Field(default_factory=OperatingPoint)
    error: str | None
    created_at: datetime
    updated_at: datetime


class PredictRequest(BaseModel):
    model_config = _STRICT
    inputs: list[PredictInput] = Field(
        min_length=1, description="texts; images for image models; prompts or messages for llm models"
    )


class PredictResponse(BaseModel):
    outputs: list[Output]


class PlaygroundRequest(BaseModel):
    model_config = _STRICT
    input: PredictInput = Field(description="one text, one image (URL or base64), or an llm prompt or conversation")


class TaskCreate(PredictRequest):
    callback_url: str | None = Field(default=None, max_length=2048, description="the result is POSTed here")


class Callback(BaseModel):
    url: str
    status: CallbackStatus
    attempts: int
    last_error: str | None


class Task(BaseModel):
    task_id: str
    deployment_id: str
    status: TaskStatus
    input_count: int
    outputs: list[Output] | None
    error: str | None
    callback: Callback | None
    created_at: datetime
    finished_at: datetime | None


class BatchPredictionCreate(BaseModel):
    model_config = ConfigDict(
        **_STRICT,
        json_schema_extra={
            "examples": [
                {
                    "deployment_id": "dep_01JEX9Q4W6V8Z3T5N7R2K0M1PB",
                    "snapshot_id": "snap_01JEX9Q4W6V8Z3T5N7R2K0M1PB",
                    "format": "jsonl",
                }
            ]
        },
    )
    model_id: ResourceId | None = Field(
        default=None, description="predict with a model straight (playground rows), or deployment_id"
    )
    deployment_id: ResourceId | None = Field(default=None, description="predict with a deployment, or model_id")
    snapshot_id: ResourceId | None = Field(default=None, description="the rows of a snapshot, or dataset_id")
    dataset_id: ResourceId | None = Field(default=None, description="the rows of a dataset, or snapshot_id")
    input_column: str | None = Field(
        default=None, max_length=200, description="dataset only; default: the dataset's one text column"
    )
    format: Literal["jsonl", "csv"] = Field(default="jsonl", description="the results file: jsonl or csv")

    @model_validator(mode="after")
    def _sources(self) -> BatchPredictionCreate:
        if (self.model_id is None) == (self.deployment_id is None):
            raise ValueError("give exactly one of model_id and deployment_id")
        if (self.snapshot_id is None) == (self.dataset_id is None):
            raise ValueError("give exactly one of snapshot_id and dataset_id")
        return self


class BatchProgress(BaseModel):
    rows_done: int
    rows_total: int | None


class BatchPrediction(BaseModel):
    id: str
    status: BatchStatus
    model_id: str
    deployment_id: str | None
    snapshot_id: str | None
    dataset_id: str | None
    format: str
    progress: BatchProgress
    result_key: str | None
    result_url: str | None = Field(description="where to download the results once succeeded")
    error: str | None
    created_at: datetime
    finished_at: datetime | None


class UsageRow(BaseModel):
    day: date
    deployment_id: str
    key_id: str
    requests: int
    errors: int
    mean_latency_ms: float
    max_latency_ms: float
    prompt_tokens: int = Field(default=0, description="llm models: tokens of the prompts read")
    completion_tokens: int = Field(default=0, description="llm models: tokens generated")


class Usage(BaseModel):
    items: list[UsageRow]


class TokenUsageDay(BaseModel):
    """inference-svc → gateway: an llm's tokens per day, deployment (or playground model) and key, counted
    where they are generated: whole answers, streams (a cut one to its last piece), async tasks."""

    day: date
    deployment_id: str
    key_id: str
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)


class TokenUsageDays(BaseModel):
    items: list[TokenUsageDay]


class ModelArtifacts(BaseModel):
    """trainer-svc → inference-svc: where a succeeded model's artifacts and its base model are."""

    model_id: str
    name: str
    model_type: str
    method: str
    status: str
    artifacts_prefix: str
    base_model_sha256: str
    base_model_prefix: str
