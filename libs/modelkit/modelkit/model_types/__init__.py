"""The model types' code: one package per type, each the implementation of a line of the model-type table
(``automl_proto.model_types``). Looking a type up imports nothing heavy until its code is used (trainer-svc
validates requests with it, without torch's start-up cost per call)."""

from __future__ import annotations

import importlib
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modelkit.model_types.base import ClassifierTask, ModelTask
    from modelkit.model_types.llm import LLMTask

# The facts of each type are the table in automl_proto (no torch there): modelkit adds the code behind a line.
from automl_proto.model_types import (
    NAMES,
    TABLE,
    Family,
    InputKind,
    ModelTypeError,
    ModelTypeInfo,
    UnknownModelType,
    info,
)

__all__ = [
    "NAMES",
    "TABLE",
    "Family",
    "InputKind",
    "ModelTypeError",
    "ModelTypeInfo",
    "UnknownModelType",
    "classifier",
    "info",
    "llm_task",
    "task",
]


@cache
def _implementation(path: str) -> ModelTask:
    module, _, name = path.partition(":")
    task: ModelTask = getattr(importlib.import_module(module), name)()
    return task


def task(name: str) -> ModelTask:
    return _implementation(info(name).implementation)


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
