"""modelkit's training pieces on their own: masked losses, class weights, splits, selection, tokenised
batches and the artifact round trip with a tiny encoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from automl_proto.models import Selection, TrainingOptions
from modelkit import artifacts, model_types
from modelkit.classifier import ClassifierSpec, HeadConfig
from modelkit.losses import HeadTargets, balanced_weights, head_loss, multi_head_loss
from modelkit.model_types.text_classification import TextPreprocessor, load_tokenizer
from modelkit.model_types.text_classification.tokens import tokenize
from modelkit.predict import ClassifierPredictor
from modelkit.training.data import validation_split
from modelkit.training.selection import Selector, selection_name, selection_value
from tests.support.tiny_models import build_tiny_bert

TEXT = model_types.classifier("text_classification")


def test_unlabelled_rows_are_left_out_of_a_heads_loss() -> None:
    logits = torch.randn(4, 3, requires_grad=True)
    target = torch.tensor([0, -1, 2, -1])
    expected = torch.nn.functional.cross_entropy(logits[[0, 2]], target[[0, 2]])
    assert torch.allclose(head_loss(logits, target, False, None), expected)
    head_loss(logits, target, False, None).backward()
    assert logits.grad is not None
    assert logits.grad[[1, 3]].abs().sum() == 0


def test_a_batch_without_labels_gives_zero_loss_and_no_nan() -> None:
    logits = torch.randn(2, 3, requires_grad=True)
    single = head_loss(logits, torch.tensor([-1, -1]), False, None)
    multi = head_loss(logits, torch.full((2, 3), -1), True, None)
    assert single.item() == 0.0
    assert multi.item() == 0.0
    (single + multi).backward()  # still differentiable


def test_multi_label_rows_of_minus_one_are_masked() -> None:
    logits = torch.zeros(3, 2)
    target = torch.tensor([[1, 0], [-1, -1], [0, 1]])
    loss = multi_head_loss([logits], [target], [True], [None])
    assert float(loss) == pytest.approx(float(np.log(2)))


def test_balanced_weights() -> None:
    single = balanced_weights(HeadTargets(np.array([0, 0, 0, 1, -1]), False), 3)
    assert single.tolist() == pytest.approx([4 / (3 * 3), 4 / (3 * 1), 0.0])
    multi = balanced_weights(HeadTargets(np.array([[1, 0], [1, 1], [0, 0], [-1, -1]]), True), 2)
    assert multi.tolist() == pytest.approx([1 / 2, 2 / 1])


def test_validation_split_is_stratified_and_deterministic() -> None:
    labels = np.array([0] * 90 + [1] * 10)
    train, held = validation_split([HeadTargets(labels, False)], 20, seed=3)
    _, again_held = validation_split([HeadTargets(labels, False)], 20, seed=3)
    assert held.tolist() == again_held.tolist()
    assert sorted(train.tolist() + held.tolist()) == list(range(100))
    assert (labels[held] == 1).sum() == 2
    assert (labels[held] == 0).sum() == 18


def test_selection_reads_the_right_figure_and_the_selector_counts_stale_evaluations() -> None:
    report = {
        "overall": {"f1": 0.5, "loss": 0.7},
        "heads": {
            "h": {"macro": {"f1": 0.6, "roc_auc": 0.8}, "accuracy": 0.9, "loss": 0.4, "classes": {"x": {"recall": 0.3}}}
        },
    }
    assert selection_value(report, Selection()) == 0.5
    assert selection_value(report, Selection(metric="accuracy", head="h")) == 0.9
    assert selection_value(report, Selection.model_validate({"metric": "recall", "head": "h", "class": "x"})) == 0.3
    assert selection_value(report, Selection(metric="roc_auc")) == 0.8
    assert selection_name(Selection.model_validate({"metric": "recall", "head": "h", "class": "x"})) == "val_recall:h:x"
    selector = Selector(lower_is_better=False, min_delta=0.1)
    assert selector.offer(0.5, 1, 10)
    assert selector.offer(0.55, 2, 20)  # better, so kept, but not by min_delta: counts as stale
    assert selector.stale == 1
    assert not selector.offer(0.4, 3, 30)
    assert selector.stale == 2
    assert selector.best_epoch == 2
    loss = Selector(lower_is_better=True)
    assert loss.offer(0.7, 1, 1)
    assert loss.offer(0.6, 2, 2)
    assert not loss.offer(0.65, 3, 3)


def test_method_defaults_fill_only_what_was_left_out() -> None:
    options = TrainingOptions(learning_rate=0.02).resolved("last_layer")
    assert options.learning_rate == 0.02
    assert options.max_epochs == 100
    assert TrainingOptions().resolved("full").learning_rate == 5e-5


@pytest.mark.parametrize("method", ["last_layer", "lora", "full"])
def test_artifacts_round_trip(tmp_path: Path, method: str) -> None:
    base = build_tiny_bert(tmp_path / "base")
    tokenizer = load_tokenizer(base)
    spec = ClassifierSpec(
        [HeadConfig("sentiment", ["neg", "pos"]), HeadConfig("tags", ["a", "b", "c"], True, [0.5, 0.4, 0.6])],
        TEXT.encoder_config(base),
    )
    torch.manual_seed(0)
    model = TEXT.classifier(TEXT.load_encoder(base), spec)
    TEXT.apply_method(model, method)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    if method == "last_layer":
        assert all(name.startswith("heads.") for name in trainable)
    elif method == "lora":
        assert any("lora_" in name for name in trainable)
        assert not any(name.startswith("encoder.") and "lora_" not in name for name in trainable)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.requires_grad:
                parameter.add_(torch.randn_like(parameter) * 0.1)  # as if trained
    model.eval()
    texts = ["good match today", "awful song", "the election was sad"]
    tokens = tokenize(tokenizer, texts, 32)
    batch = tokens.batch(np.arange(len(texts)))
    with torch.no_grad():
        expected = model(**batch)
    manifest = artifacts.ArtifactManifest(method, "tiny", "0" * 64, spec)
    artifacts.save(model, manifest, TextPreprocessor(tokenizer, 32), tmp_path / "out")
    predictor = ClassifierPredictor.load(tmp_path / "out", base if method != "full" else None)
    scores = predictor.scores(texts)
    assert np.allclose(scores[0], torch.softmax(expected[0], -1).numpy(), atol=1e-5)
    assert np.allclose(scores[1], torch.sigmoid(expected[1]).numpy(), atol=1e-5)
    output = predictor.predict(texts)[0]["heads"]["tags"]
    thresholds = {"a": 0.5, "b": 0.4, "c": 0.6}
    predicted = {name for name, threshold in thresholds.items() if output["scores"][name] >= threshold}
    assert set(output["predicted"]) == predicted
    assert list(output["scores"]) == sorted(output["scores"], key=lambda name: -output["scores"][name])


def test_a_last_layer_model_needs_its_base(tmp_path: Path) -> None:
    base = build_tiny_bert(tmp_path / "base")
    model = TEXT.classifier(
        TEXT.load_encoder(base), ClassifierSpec([HeadConfig("h", ["a", "b"])], TEXT.encoder_config(base))
    )
    artifacts.save(
        model,
        artifacts.ArtifactManifest("last_layer", "tiny", "0" * 64, model.spec),
        TextPreprocessor(load_tokenizer(base), 32),
        tmp_path / "out",
    )
    with pytest.raises(artifacts.ArtifactError, match="needs its base model"):
        artifacts.load(tmp_path / "out", None)
