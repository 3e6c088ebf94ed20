"""Many last-layer classifiers of one base model over one copy of its encoder: a model here is its heads (a few
small tensors) and its pre-processing settings; the encoder and each distinct pre-processor are loaded once.

``predict`` takes inputs for any of the loaded models at once: they are pre-processed per setting, embedded in
one encoder pass, and each model's heads score its own inputs' embeddings, so a batch mixes models freely.
The heads are kept in a least-recently-used set bounded by their bytes; a model that is not (or no longer)
loaded is fetched through ``fetch`` (its artifact folder) and loaded on demand."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from modelkit import artifacts, model_types
from modelkit.classifier import MultiHeadClassifier
from modelkit.model_types.base import Preprocessor
from modelkit.predict import answers
from modelkit.training.trainer import embed, head_scores

DEFAULT_MAX_HEAD_BYTES = 256 * 1024**2


class NotShareable(artifacts.ArtifactError):
    """A model whose encoder is not the shared one (LoRA, full fine-tune, another base model or type)."""


@dataclass
class SharedModel:
    model: MultiHeadClassifier  # the shared encoder and this model's own heads
    preprocessing: str  # its pre-processing settings (JSON), the key of its pre-processor
    bytes: int  # its heads' weights


class SharedEncoder:
    def __init__(
        self, base_dir: Path, model_type: str, base_model_sha256: str, fetch: Callable[[str], Path],
        device: str = "cpu", max_head_bytes: int = DEFAULT_MAX_HEAD_BYTES,
    ) -> None:  # fmt: skip
        self.task = model_types.classifier(model_type)
        self.model_type = model_type
        self.base_model_sha256 = base_model_sha256
        self.encoder = self.task.load_encoder(base_dir).to(device).eval()
        self.fetch = fetch
        self.max_head_bytes = max_head_bytes
        self.models: OrderedDict[str, SharedModel] = OrderedDict()  # least recently used first
        self.preprocessors: dict[str, Preprocessor] = {}
        self.loads = 0  # models loaded (a reload after eviction counts again)

    @property
    def head_bytes(self) -> int:
        return sum(loaded.bytes for loaded in self.models.values())

    def load(self, key: str) -> SharedModel:
        """``key``'s heads, loaded from its folder (``fetch``) unless already here; the least recently used
        models' heads dropped while over ``max_head_bytes``."""
        found = self.models.get(key)
        if found is not None:
            self.models.move_to_end(key)
            return found
        directory = self.fetch(key)
        manifest = artifacts.ArtifactManifest.read(directory)
        if manifest.method != "last_layer":
            raise NotShareable(f"model {key} is a {manifest.method} model: its encoder is its own")
        if manifest.model_type != self.model_type or manifest.base_model_sha256 != self.base_model_sha256:
            raise NotShareable(f"model {key} is a {manifest.model_type} model of another base model")
        model = self.task.classifier(self.encoder, manifest.spec)
        artifacts.load_heads(model, directory)
        model.eval()
        preprocessing = json.dumps(manifest.preprocessing, sort_keys=True)
        if preprocessing not in self.preprocessors:
            self.preprocessors[preprocessing] = self.task.load_preprocessor(directory, manifest.preprocessing)
        size = sum(parameter.numel() * parameter.element_size() for parameter in model.heads.parameters())
        loaded = SharedModel(model, preprocessing, size)
        self.models[key] = loaded
        self.loads += 1
        while self.head_bytes > self.max_head_bytes and len(self.models) > 1:
            self.models.popitem(last=False)
        return loaded

    def evict(self, key: str) -> None:
        self.models.pop(key, None)

    @torch.no_grad()
    def predict(self, requests: Sequence[tuple[str, Any]]) -> list[dict[str, Any]]:
        """Per ``(model key, raw input)``, that model's answer (as ``ClassifierPredictor.predict``'s)."""
        loaded = {key: self.load(key) for key in dict.fromkeys(key for key, _ in requests)}
        outputs: list[dict[str, Any]] = [{} for _ in requests]
        by_setting: dict[str, list[int]] = {}
        for position, (key, _) in enumerate(requests):
            by_setting.setdefault(loaded[key].preprocessing, []).append(position)
        for setting, positions in by_setting.items():
            inputs = self.preprocessors[setting].encode([requests[p][1] for p in positions])
            any_model = loaded[requests[positions[0]][0]].model
            embeddings = embed(any_model, inputs)  # one encoder pass for every model's inputs
            by_model: dict[str, list[int]] = {}
            for offset, position in enumerate(positions):
                by_model.setdefault(requests[position][0], []).append(offset)
            for key, offsets in by_model.items():
                model = loaded[key].model
                rows = embeddings[torch.from_numpy(np.array(offsets, dtype=np.int64))]
                for offset, answer in zip(
                    offsets, answers(model.spec.heads, head_scores(model, rows), len(offsets)), strict=True
                ):
                    outputs[positions[offset]] = answer
        return outputs
