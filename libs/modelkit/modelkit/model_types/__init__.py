"""The model-type registry: one module per type, one line per type here. Looking a type up imports nothing
heavy until it is used (trainer-svc validates requests with it, without torch's start-up cost per call)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from modelkit.model_types.base import ClassifierTask, ModelTask
    from modelkit.model_types.llm import LLMTask

InputKind = Literal["text", "image", "chat"]
# Which training driver, artifact layout and replica a type takes: a multi-head classifier over an encoder, or
# a causal language model that generates.
Family = Literal["classifier", "llm"]


class ModelTypeError(Exception):
    """A request a model type cannot take (a method it has not, an input it cannot read)."""


class UnknownModelType(ModelTypeError):
    pass


@dataclass(frozen=True)
class TaskInfo:
    """What the services ask of a type before any model is loaded."""

    name: str
    input_kind: InputKind
    snapshot_column: str  # the input column of the type's snapshots
    methods: tuple[str, ...]
    family: Family
    implementation: str  # "module:Class"
    # Per method, what this type trains with when an option is left out (over automl_proto's METHOD_DEFAULTS)
    method_defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    from_parent: bool = True  # whether a model may start from a parent model of the org (retraining heads)

    def load(self) -> ModelTask:
        return _implementation(self.implementation)

    def check_method(self, method: str) -> None:
        if method not in self.methods:
            raise ModelTypeError(
                f"method: {method!r} is not available for {self.name} models (they take {', '.join(self.methods)})"
            )


@cache
def _implementation(path: str) -> ModelTask:
    module, _, name = path.partition(":")
    task: ModelTask = getattr(importlib.import_module(module), name)()
    return task


REGISTRY: dict[str, TaskInfo] = {
    info.name: info
    for info in (
        TaskInfo(
            "text_classification",
            "text",
            "text",
            ("last_layer", "lora", "full"),
            "classifier",
            "modelkit.model_types.text_classification:TextClassification",
            {method: {"max_length": 128} for method in ("last_layer", "lora", "full")},
        ),
        TaskInfo(
            "image_classification",
            "image",
            "image_sha256",
            ("last_layer", "full"),  # peft's LoRA targets attention projections: a convnet has none
            "classifier",
            "modelkit.model_types.image_classification:ImageClassification",
            {
                # cached features: large batches cost less per example (fewer optimiser steps on 2 cores)
                "last_layer": {"batch_size": 256},
                # a convnet's batch norms and small weights fine-tune at a larger rate than a transformer's
                "full": {"learning_rate": 1e-3, "max_epochs": 3},
            },
        ),
        TaskInfo(
            "llm",
            "chat",
            "prompt",  # or "messages": the worker reads whichever the snapshot has
            ("lora", "full"),
            "llm",
            "modelkit.model_types.llm:LLMTask",
            {
                # a step's examples are packed into rows of max_length tokens: a few examples fill one
                "lora": {"learning_rate": 2e-4, "batch_size": 8, "max_epochs": 3},
                "full": {"learning_rate": 2e-5, "batch_size": 8, "max_epochs": 2},
            },
            from_parent=False,
        ),
    )
}


def info(name: str) -> TaskInfo:
    try:
        return REGISTRY[name]
    except KeyError:
        supported = ", ".join(sorted(REGISTRY))
        raise UnknownModelType(
            f"model type {name!r} cannot be trained or served here (supported: {supported})"
        ) from None


def task(name: str) -> ModelTask:
    return info(name).load()


def classifier(name: str) -> ClassifierTask:
    """A classification type (its family checked), for the code that trains and serves classifiers."""
    from modelkit.model_types.base import ClassifierTask

    loaded = task(name)
    if not isinstance(loaded, ClassifierTask):
        raise ModelTypeError(f"{name} models are not classifiers")
    return loaded


def llm_task(name: str) -> LLMTask:
    """A generative type (its family checked), for the code that trains and serves causal LMs."""
    from modelkit.model_types.llm import LLMTask

    loaded = task(name)
    if not isinstance(loaded, LLMTask):
        raise ModelTypeError(f"{name} models are not causal language models")
    return loaded
