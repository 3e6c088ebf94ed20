"""Predictions from a loaded classifier (any classification type): per input and head, every class's score
(sorted) and the predicted classes (the arg max of a single-label head; the classes at or above their
threshold otherwise)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from modelkit import artifacts
from modelkit.classifier import HeadConfig, MultiHeadClassifier
from modelkit.model_types.base import Preprocessor
from modelkit.training.trainer import embed, head_scores


class ClassifierPredictor:
    def __init__(self, model: MultiHeadClassifier, preprocessor: Preprocessor, model_type: str) -> None:
        self.model = model
        self.preprocessor = preprocessor
        self.model_type = model_type

    @classmethod
    def load(cls, directory: Path, base_dir: Path | None, device: str = "cpu") -> ClassifierPredictor:
        """On ``device`` (a replica with a GPU: ``cuda``); the forward passes run at the device's default
        precision (``training.loop.autocast``: bf16 on a GPU that has it)."""
        model, manifest, preprocessor = artifacts.load(directory, base_dir)
        return cls(model.to(device), preprocessor, manifest.model_type)

    @torch.no_grad()
    def scores(self, raw: Sequence[Any]) -> list[np.ndarray[Any, Any]]:
        """Per head, an (inputs, classes) array of probabilities."""
        return head_scores(self.model, embed(self.model, self.preprocessor.encode(raw)))

    def predict(self, raw: Sequence[Any]) -> list[dict[str, Any]]:
        return answers(self.model.spec.heads, self.scores(raw), len(raw))


def answers(heads: Sequence[HeadConfig], per_head: list[np.ndarray[Any, Any]], count: int) -> list[dict[str, Any]]:
    """Per input, each head's scores (best first) and predicted classes, from each head's score matrix."""
    outputs: list[dict[str, Any]] = [{"heads": {}} for _ in range(count)]
    for head, matrix in zip(heads, per_head, strict=True):
        for row, output in zip(matrix, outputs, strict=True):
            order = np.argsort(-row, kind="stable")
            if head.multilabel:
                thresholds = head.thresholds or [0.5] * len(head.classes)
                predicted = [head.classes[i] for i in order if row[i] >= thresholds[i]]
            else:
                predicted = [head.classes[int(order[0])]]
            scores = {head.classes[i]: round(float(row[i]), 6) for i in order}
            output["heads"][head.name] = {"predicted": predicted, "scores": scores}
    return outputs
