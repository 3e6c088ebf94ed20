"""Many last-layer models over one shared encoder: each answers exactly as when loaded alone, a batch that
mixes models answers each input with its own model's heads, heads evicted past the byte bound reload on
demand, and a model with an encoder of its own (LoRA, full, another base) is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from modelkit import artifacts, model_types
from modelkit.classifier import ClassifierSpec, HeadConfig
from modelkit.model_types.text_classification import TextPreprocessor, load_tokenizer
from modelkit.predict import ClassifierPredictor
from modelkit.shared_encoder import NotShareable, SharedEncoder
from tests.support.tiny_models import build_tiny_bert

TEXT = model_types.classifier("text_classification")
BASE_SHA = "b" * 64
TEXTS = ["good match today", "awful song", "the election was sad", "a fine day", "terrible news"]
MODELS = 50


def save_model(base: Path, out: Path, seed: int, method: str = "last_layer", max_length: int = 32) -> Path:
    """A model with heads of its own (random, as if trained): two heads, one multi-label, classes by seed."""
    torch.manual_seed(seed)
    heads = [
        HeadConfig("sentiment", ["negative", "positive", "neutral"][: 2 + seed % 2]),
        HeadConfig("tags", ["a", "b", "c"], multilabel=True, thresholds=[0.5, 0.4, 0.6]),
    ]
    model = TEXT.classifier(TEXT.load_encoder(base), ClassifierSpec(heads, TEXT.encoder_config(base)))
    with torch.no_grad():
        for head in model.heads:
            for parameter in head.parameters():
                parameter.copy_(torch.randn_like(parameter))
    manifest = artifacts.ArtifactManifest(method, "tiny", BASE_SHA, model.spec)
    artifacts.save(model, manifest, TextPreprocessor(load_tokenizer(base), max_length), out)
    return out


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny") / "base")


@pytest.fixture(scope="module")
def folders(base: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {
        f"model-{index}": save_model(base, root / str(index), index, max_length=32 if index % 5 else 16)
        for index in range(MODELS)
    }


def shared(base: Path, folders: dict[str, Path], max_head_bytes: int = 10**9) -> SharedEncoder:
    return SharedEncoder(base, "text_classification", BASE_SHA, folders.__getitem__, max_head_bytes=max_head_bytes)


def assert_same(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    for one, other in zip(got, want, strict=True):
        assert one["heads"].keys() == other["heads"].keys()
        for name, head in one["heads"].items():
            assert head["predicted"] == other["heads"][name]["predicted"]
            assert list(head["scores"]) == list(other["heads"][name]["scores"])
            assert np.allclose(list(head["scores"].values()), list(other["heads"][name]["scores"].values()), atol=2e-6)


def test_fifty_models_on_one_encoder_answer_as_each_alone_in_mixed_batches(
    base: Path, folders: dict[str, Path]
) -> None:
    encoder = shared(base, folders)
    alone = {key: ClassifierPredictor.load(folder, base).predict(TEXTS) for key, folder in folders.items()}
    # One batch: every model, each with its own input, in an interleaved order.
    requests = [(key, TEXTS[(index * 3) % len(TEXTS)]) for index, key in enumerate(folders)]
    requests += [(key, TEXTS[index % len(TEXTS)]) for index, key in enumerate(reversed(list(folders)))]
    answered = encoder.predict(requests)
    for (key, text), answer in zip(requests, answered, strict=True):
        assert_same([answer], [alone[key][TEXTS.index(text)]])
    assert encoder.loads == MODELS
    assert len(encoder.preprocessors) == 2  # two max lengths among the fifty: two tokenisers, not fifty
    heads = sum(p.numel() for p in encoder.models["model-1"].model.heads.parameters())
    assert heads * 4 == encoder.models["model-1"].bytes


def test_evicted_heads_reload_on_demand(base: Path, folders: dict[str, Path]) -> None:
    one = shared(base, folders).load("model-0").bytes
    encoder = shared(base, folders, max_head_bytes=int(one * 10.5))
    first = encoder.predict([("model-0", TEXTS[0])])
    encoder.predict([(f"model-{index}", TEXTS[1]) for index in range(1, 12)])
    assert "model-0" not in encoder.models  # the least recently used, dropped for model-11
    assert encoder.head_bytes <= one * 10.5
    again = encoder.predict([("model-0", TEXTS[0])])
    assert_same(again, first)
    assert encoder.loads == 13


def test_models_with_an_encoder_of_their_own_are_refused(base: Path, tmp_path: Path) -> None:
    lora_like = save_model(base, tmp_path / "full", 1, method="full")
    encoder = SharedEncoder(base, "text_classification", BASE_SHA, {"full": lora_like}.__getitem__)
    with pytest.raises(NotShareable, match="full model"):
        encoder.predict([("full", "text")])
    other_base = SharedEncoder(
        base, "text_classification", "c" * 64, {"m": save_model(base, tmp_path / "m", 2)}.__getitem__
    )
    with pytest.raises(NotShareable, match="another base model"):
        other_base.load("m")
