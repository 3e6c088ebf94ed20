"""Predictions from a loaded text classifier: per input and head, every class's score (sorted) and the
predicted classes (the arg max of a single-label head; the classes at or above their threshold otherwise)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from modelkit import artifacts
from modelkit.classifier import MultiHeadClassifier
from modelkit.text import length_sorted_batches, tokenize
from modelkit.training.trainer import INFERENCE_BATCH, head_scores


class TextClassifierPredictor:
    def __init__(self, model: MultiHeadClassifier, tokenizer: Any, max_length: int) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length

    @classmethod
    def load(cls, directory: Path, base_dir: Path | None) -> TextClassifierPredictor:
        model, manifest, tokenizer = artifacts.load(directory, base_dir)
        return cls(model, tokenizer, manifest.max_length)

    @torch.no_grad()
    def scores(self, texts: Sequence[str]) -> list[np.ndarray[Any, Any]]:
        """Per head, a (texts, classes) array of probabilities."""
        tokens = tokenize(self.tokenizer, texts, self.max_length)
        embeddings = torch.empty(len(texts), self.model.spec.encoder.hidden_size)
        for positions in length_sorted_batches(tokens, INFERENCE_BATCH):
            batch = tokens.batch(positions)
            embeddings[torch.from_numpy(positions)] = self.model.embed(batch["input_ids"], batch["attention_mask"])
        return head_scores(self.model, embeddings)

    def predict(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        per_head = self.scores(texts)
        outputs: list[dict[str, Any]] = [{"heads": {}} for _ in texts]
        for head, matrix in zip(self.model.spec.heads, per_head, strict=True):
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
