"""The model-type table: every fact about a model type that a service asks before any model is loaded, one
line per type, with no heavy import (proto, snapshot-svc, the console and the CLI read it; modelkit adds the
code behind each line).

A line says what the type is called, which training driver and replica take it (its family), what it reads,
the columns of its snapshots and how each cell is read (its snapshot rule), its methods with their defaults,
and what it can do (its capabilities). Code asks a capability (``info(name).can("thresholds")``), never a
type's name."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, WithJsonSchema

InputKind = Literal["text", "image", "chat"]
# Which training driver, artifact layout and replica a type takes: a multi-head classifier over an encoder, or
# a causal language model that generates, a detector of boxes, a segmenter of pixels.
Family = Literal["classifier", "llm", "detector", "segmenter"]
Capability = Literal[
    "thresholds",  # its scores are probabilities a deployment cuts at operating points (per head and class)
    "exportable",  # its models are exported (``/v1/models/{id}/export``): merged or an adapter; a vision model's folder
    "shares_base",  # LoRA models of one base share a replica, their adapters switched per request
    "shares_encoder",  # last-layer models of one base share a replica: its encoder held once, their heads apart
    "from_parent",  # a model may start from a parent model of the org (retraining heads)
    "generates",  # a call generates tokens (the playground holds a replica, answers stream)
    "detects",  # an answer is the image's objects as boxes: a call may set score_threshold and max_detections,
    # and a deployment's operating point is a score cut-off per class (head ``objects``)
]
# How snapshot-svc reads one cell of a snapshot column: a text, an image fetched into the dataset (its
# sha256), a JSON list of chat messages, an image's labelled boxes (checked against the image read before), a
# segmentation mask (an image of class indexes, checked against the image and the classes), the class names.
CellReader = Literal["text", "image", "messages", "boxes", "mask", "classes"]


class ModelTypeError(Exception):
    """A request a model type cannot take (a method it has not, an input it cannot read)."""


class UnknownModelType(ModelTypeError):
    pass


@dataclass(frozen=True)
class SnapshotColumn:
    """One column a snapshot of the type reads from its dataset."""

    field: str  # the field of ``SnapshotCreate`` that names the dataset column ("input_column")
    reader: CellReader
    stored_as: str  # the snapshot's Parquet column
    mapped_as: tuple[str, ...]  # the dataset column types it may be mapped as
    default: str | None = None  # the dataset column read when the request names none (an upload's layout)


@dataclass(frozen=True)
class SnapshotRule:
    """A type's snapshots: one of ``forms`` (sets of columns), and label heads or none."""

    forms: tuple[tuple[SnapshotColumn, ...], ...]
    heads: bool

    @property
    def fields(self) -> tuple[str, ...]:
        """Every column field this type's snapshots may name, in the order of the forms."""
        return tuple(dict.fromkeys(column.field for form in self.forms for column in form))

    def form(self, named: set[str]) -> tuple[SnapshotColumn, ...] | None:
        """The form whose columns are exactly the fields ``named``, with or without those that have a default
        (None: no form fits)."""
        for form in self.forms:
            required = {column.field for column in form if column.default is None}
            if required <= named <= {column.field for column in form}:
                return form
        return None

    def describe(self) -> str:
        """The forms in words: ``prompt_column and completion_column, or messages_column``."""
        return ", or ".join(
            " and ".join(column.field for column in form if column.default is None) for form in self.forms
        )


@dataclass(frozen=True)
class ModelTypeInfo:
    """One line of the table."""

    name: str
    title: str  # how the console and the CLI name it
    family: Family
    input_kind: InputKind
    snapshot: SnapshotRule
    methods: tuple[str, ...]
    implementation: str  # "module:Class" in modelkit: what trains and serves it
    # Per method, what this type trains with when an option is left out (over automl_proto's METHOD_DEFAULTS)
    method_defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    capabilities: frozenset[Capability] = frozenset()

    @property
    def snapshot_column(self) -> str:
        """The snapshot column a model reads its input from (batch predictions read a snapshot's by it)."""
        return self.snapshot.forms[0][0].stored_as

    def can(self, capability: Capability) -> bool:
        return capability in self.capabilities

    def check_method(self, method: str) -> None:
        if method not in self.methods:
            raise ModelTypeError(
                f"method: {method!r} is not available for {self.name} models (they take {', '.join(self.methods)})"
            )


TABLE: dict[str, ModelTypeInfo] = {
    line.name: line
    for line in (
        ModelTypeInfo(
            "text_classification",
            "text classification",
            "classifier",
            "text",
            SnapshotRule(forms=((SnapshotColumn("input_column", "text", "text", ("text",)),),), heads=True),
            ("last_layer", "lora", "full"),
            "modelkit.model_types.text_classification:TextClassification",
            {method: {"max_length": 128} for method in ("last_layer", "lora", "full")},
            frozenset({"thresholds", "from_parent", "shares_encoder"}),
        ),
        ModelTypeInfo(
            "image_classification",
            "image classification",
            "classifier",
            "image",
            SnapshotRule(forms=((SnapshotColumn("input_column", "image", "image_sha256", ("image",)),),), heads=True),
            ("last_layer", "full"),  # peft's LoRA targets attention projections: a convnet has none
            "modelkit.model_types.image_classification:ImageClassification",
            {
                # cached features: large batches cost less per example (fewer optimiser steps on 2 cores)
                "last_layer": {"batch_size": 256},
                # a convnet's batch norms and small weights fine-tune at a larger rate than a transformer's
                "full": {"learning_rate": 1e-3, "max_epochs": 3},
            },
            frozenset({"thresholds", "from_parent", "shares_encoder"}),
        ),
        ModelTypeInfo(
            "llm",
            "LLM (prompt + completion, or messages)",
            "llm",
            "chat",
            SnapshotRule(
                forms=(
                    (
                        SnapshotColumn("prompt_column", "text", "prompt", ("text",)),
                        SnapshotColumn("completion_column", "text", "completion", ("text",)),
                    ),
                    (SnapshotColumn("messages_column", "messages", "messages", ("json", "text")),),
                ),
                heads=False,
            ),
            ("lora", "full"),
            "modelkit.model_types.llm:LLMTask",
            {
                # a step's examples are packed into rows of max_length tokens: a few examples fill one
                "lora": {"learning_rate": 2e-4, "batch_size": 8, "max_epochs": 3},
                "full": {"learning_rate": 2e-5, "batch_size": 8, "max_epochs": 2},
            },
            frozenset({"exportable", "shares_base", "generates"}),
        ),
        ModelTypeInfo(
            "object_detection",
            "object detection (images with labelled boxes)",
            "detector",
            "image",
            SnapshotRule(
                forms=(
                    (
                        SnapshotColumn("input_column", "image", "image_sha256", ("image",)),
                        SnapshotColumn("boxes_column", "boxes", "boxes", ("boxes",)),
                    ),
                ),
                heads=False,  # the classes are the boxes' labels
            ),
            ("last_layer", "full"),  # LoRA: a convnet has no attention projections for it
            "modelkit.model_types.object_detection:ObjectDetection",
            {
                "last_layer": {"learning_rate": 2e-3, "batch_size": 16, "max_epochs": 12, "augment": True},
                "full": {"learning_rate": 1e-3, "batch_size": 16, "max_epochs": 12, "augment": True},
            },
            frozenset({"detects", "exportable"}),
        ),
        ModelTypeInfo(
            "semantic_segmentation",
            "semantic segmentation (images with a class per pixel)",
            "segmenter",
            "image",
            SnapshotRule(
                forms=(
                    (
                        SnapshotColumn("input_column", "image", "image_sha256", ("image",)),
                        # labels.txt of the upload, the same list in every row: line i is class i's name
                        SnapshotColumn("classes_column", "classes", "classes", ("json", "text"), default="classes"),
                        SnapshotColumn("mask_column", "mask", "mask_sha256", ("mask",)),
                    ),
                ),
                heads=False,  # the classes are the masks' pixel values
            ),
            ("last_layer", "full"),
            "modelkit.model_types.semantic_segmentation:SemanticSegmentation",
            {
                "last_layer": {"learning_rate": 5e-3, "batch_size": 16, "max_epochs": 12, "augment": True},
                "full": {"learning_rate": 2e-3, "batch_size": 16, "max_epochs": 12, "augment": True},
            },
            frozenset({"exportable"}),
        ),
    )
}
NAMES: tuple[str, ...] = tuple(TABLE)
# Every snapshot column field any type names (``SnapshotCreate`` has one field each).
COLUMN_FIELDS: tuple[str, ...] = tuple(dict.fromkeys(f for line in TABLE.values() for f in line.snapshot.fields))


def info(name: str) -> ModelTypeInfo:
    try:
        return TABLE[name]
    except KeyError:
        raise UnknownModelType(
            f"model type {name!r} cannot be trained or served here (supported: {', '.join(NAMES)})"
        ) from None


def _known(name: str) -> str:
    if name not in TABLE:
        raise ValueError(f"{name!r} is not a model type here (supported: {', '.join(NAMES)})")
    return name


# A model type's name in a request or a response: checked against the table, listed in the JSON Schema.
ModelTypeName = Annotated[
    str,
    AfterValidator(_known),
    WithJsonSchema({"type": "string", "enum": list(NAMES)}),
]
