"""The contract between trainer-svc and the training worker: the job spec it runs and the events it reports.

The worker gets the spec as a JSON file (local backend) or an environment variable (Kubernetes Job) and
reports to ``events_url`` with ``Authorization: Bearer <token>``; trainer-svc keeps only the token's hash."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from automl_proto.models import Method, TrainingOptions

EventKind = Literal["started", "progress", "epoch", "checkpoint", "resumed", "log", "succeeded", "failed", "cancelled"]


class SnapshotFiles(BaseModel):
    id: str
    sha256: str
    data_key: str
    heads: list[dict[str, Any]]  # [{name, multilabel, classes: [{name, count}]}]
    row_count: int
    name: str = ""
    duplicates: dict[str, int] | None = None  # rows, groups, conflicting_groups (the snapshot's stats)


class ReadySnapshot(SnapshotFiles):
    """snapshot-svc's answer to ``/internal/snapshots/{id}/files``: a ready snapshot's files, its type, and
    the file of the split asked for."""

    type: str
    split_key: str | None = None

    def files(self) -> SnapshotFiles:
        """What a job spec carries of it."""
        return SnapshotFiles.model_validate(self.model_dump(include=set(SnapshotFiles.model_fields)))


class BaseModelFiles(BaseModel):
    id: str
    name: str
    sha256: str
    store_prefix: str  # every file of the model under this prefix (config, weights, tokenizer)


class ParentModel(BaseModel):
    id: str
    name: str
    artifacts_prefix: str


class JobSpec(BaseModel):
    job_id: str
    model_id: str
    org_id: str = ""
    model_name: str
    description: str = ""
    model_type: str
    method: Method
    base_model: BaseModelFiles
    train: SnapshotFiles
    test: SnapshotFiles | None = None  # None: evaluate on the split's test part
    split_key: str | None = None  # a Parquet file with one boolean ``test`` column aligned with ``train``'s rows
    split_description: str = ""
    parent: ParentModel | None = None
    options: TrainingOptions
    output_prefix: str  # artifacts, metrics, card and checkpoints go under here
    events_url: str
    token: str
    attempt: int = 1


@dataclass(frozen=True)
class RunLayout:
    """Where a training run keeps its outputs, under its ``output_prefix``: the worker writes them and
    trainer-svc reads them by these same names."""

    prefix: str

    @property
    def artifacts(self) -> str:
        """The model's files, as a deployment loads them (a folder)."""
        return self.prefix + "artifacts/"

    @property
    def metrics(self) -> str:
        """``metrics.json``: a ``automl_proto.metrics.RunEvaluation``."""
        return self.prefix + "metrics.json"

    @property
    def scores(self) -> str:
        """``scores.npz``: per head the test labels, the model's scores and the baseline's."""
        return self.prefix + "scores.npz"

    @property
    def card(self) -> str:
        return self.prefix + "card.md"

    @property
    def checkpoint(self) -> str:
        """The last checkpoint, a preempted run resumes from."""
        return self.prefix + "checkpoints/last.pt"

    def export(self, export_format: str) -> str:
        """An llm model's export (``merged`` or ``adapter``), built on first request."""
        return f"{self.prefix}exports/{export_format}.tar"


class JobEvent(BaseModel):
    kind: EventKind
    message: str = Field(default="", max_length=20_000)
    data: dict[str, Any] = Field(default_factory=dict)
    options: TrainingOptions | None = Field(
        default=None, description="the options the run uses, every default filled in, once the worker knows them"
    )


class JobEventAnswer(BaseModel):
    """trainer-svc's answer to an event: whether the worker should stop (the run was cancelled)."""

    cancel: bool
