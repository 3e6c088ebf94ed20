from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from modelkit.card import CardInputs, limitations, render_model_card
from modelkit.metrics import HeadInput, delta, evaluate, majority_baseline
from modelkit.plots import confusion_matrix_png, pr_curve_png, roc_curve_png


def sample_report():
    rng = np.random.default_rng(5)
    y = np.r_[rng.integers(0, 2, 200), np.full(4, 2)]
    logits = rng.normal(size=(204, 3)) + 2 * np.eye(3)[y]
    scores = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    tags = (rng.random((204, 2)) < 0.5).astype(int)
    heads = [
        HeadInput("spam", ["ham", "spam", "rare"], y, scores),
        HeadInput(
            "tags", ["promo", "news"], tags, np.clip(tags * 0.5 + rng.random((204, 2)) * 0.5, 0, 1), multilabel=True
        ),
    ]
    report = evaluate(heads)
    return report, delta(report, evaluate(majority_baseline(heads)))


def card_inputs(**overrides):
    report, change = sample_report()
    values = dict(
        name="sms-spam-v1",
        base_model="MiniLM-L6",
        method="lora",
        model_type="text_classification",
        train_snapshot={
            "id": "snap_1",
            "name": "sms",
            "row_count": 5000,
            "heads": [
                {
                    "name": "spam",
                    "multilabel": False,
                    "classes": [
                        {"name": "ham", "count": 4300},
                        {"name": "spam", "count": 300},
                        {"name": "rare", "count": 20},
                    ],
                }
            ],
        },
        evaluation_data="20% stratified split, seed 1 (204 rows)",
        hyperparameters={
            "learning_rate": 2e-4,
            "train_batch_size": 32,
            "eval_batch_size": 64,
            "seed": 1,
            "optimizer": {"name": "AdamW", "betas": (0.9, 0.999), "epsilon": 1e-8, "weight_decay": 0.01},
            "scheduler": {"name": "linear", "warmup_steps": 50},
            "epochs": 3,
            "early_stopping": {"patience": 2, "min_delta": 0.001},
        },
        report=report,
        delta=change,
        epochs=[
            {"epoch": 1, "step": 100, "train_loss": 0.5, "val_loss": 0.4, "macro_f1": 0.7},
            {"epoch": 2, "step": 200, "train_loss": 0.3, "val_loss": 0.35, "macro_f1": 0.8},
        ],
        chosen_epoch=2,
        leaked_rows=3,
    )
    values.update(overrides)
    return CardInputs(**values)


def test_model_card_has_every_section_and_the_figures():
    inputs = card_inputs()
    card = render_model_card(inputs)
    for heading in (
        "# Model card: sms-spam-v1",
        "## Model",
        "## Data",
        "## Hyperparameters",
        "## Training",
        "## Results",
        "## Limitations",
    ):
        assert heading in card
    assert "| learning rate | 0.0002 |" in card
    assert "AdamW (betas (0.9, 0.999), epsilon 1e-08" in card
    assert "linear, warmup 50 steps" in card
    assert "| 2 | 200 | 0.3000 | 0.3500 | 0.8000 |" in card
    assert "chosen epoch 2" in card
    spam = inputs.report["heads"]["spam"]
    assert f"{spam['classes']['spam']['precision']:.4f}" in card
    assert f"{inputs.delta['overall']['f1']:+.4f}" in card
    assert "### Head `tags`" in card and "Hamming score" in card


def test_limitations_found_in_the_data():
    found = limitations(card_inputs())
    assert any("fewer than 10 test examples (rare)" in item for item in found)
    assert any("strongly imbalanced" in item and "largest class 4300" in item for item in found)
    assert any("3 test rows also appear in the training data" in item for item in found)
    clean = card_inputs(leaked_rows=0, train_snapshot={"id": "s", "name": "s", "row_count": 10, "heads": []})
    assert not any("leakage" in item for item in limitations(clean))


def test_a_small_test_set_gets_its_confidence_interval_not_a_clean_bill():
    """40 test rows all right: the card says how little that shows (the Wilson interval 0.912-1.0), where it
    said "none found"."""
    y = np.r_[np.zeros(20, int), np.ones(20, int)]
    scores = np.eye(2)[y] * 0.9 + 0.05
    report = evaluate([HeadInput("label", ["ham", "spam"], y, scores)])
    head = report["heads"]["label"]
    assert head["accuracy"] == 1.0
    assert head["accuracy_ci"] == [pytest.approx(0.912378, abs=1e-6), 1.0]
    assert head["classes"]["spam"]["recall_ci"][0] < 0.85
    clean = {"id": "s", "name": "s", "row_count": 50, "heads": []}
    found = limitations(card_inputs(report=report, leaked_rows=0, train_snapshot=clean))
    assert found and "tested on 40 rows only" in found[0] and "0.9124 to 1.0000" in found[0]
    card = render_model_card(card_inputs(report=report, leaked_rows=0, train_snapshot=clean))
    assert "None found" not in card


@pytest.mark.parametrize(("successes", "trials"), [(81, 100), (0, 10), (10, 10), (3, 7), (999, 1000)])
def test_the_wilson_interval_is_where_the_score_test_stops_rejecting(successes: int, trials: int) -> None:
    """Each end of the interval is a p at which the score test is exactly at its 95% bound:
    (p_hat - p)^2 = z^2 p (1 - p) / n, with z from scipy's normal quantile."""
    from scipy.stats import norm  # type: ignore[import-untyped]

    from modelkit.metrics.report import wilson

    z = norm.ppf(0.975)
    observed = successes / trials
    interval = wilson(successes, trials)
    assert interval is not None and interval[0] <= observed <= interval[1]
    for end in interval:
        if end in (0.0, 1.0) and end == observed:
            continue  # the closed end of an interval at 0% or 100%
        assert (observed - end) ** 2 == pytest.approx(z * z * end * (1 - end) / trials, abs=1e-5)
    assert wilson(5, 0) is None


def test_png_renderings():
    report, _ = sample_report()
    for render in (pr_curve_png, roc_curve_png, confusion_matrix_png):
        for head in report["heads"].values():
            data = render(head)
            assert data.startswith(b"\x89PNG")
            with Image.open(io.BytesIO(data)) as image:
                assert image.width > 200
                assert image.height > 100
