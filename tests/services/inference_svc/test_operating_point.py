"""How a deployment's operating point re-decides ``predicted`` from the scores (the API side, its checks
against the model's heads and classes and its versions, is in the SDK and browser journeys)."""

from __future__ import annotations

from typing import Any

from inference_svc.deployments.operating_point import Rule


def output(scores: dict[str, float], predicted: list[str], head: str = "spam") -> dict[str, Any]:
    return {"heads": {head: {"predicted": predicted, "scores": scores}}}


def test_a_single_label_head_predicts_the_best_class_that_passes() -> None:
    rule = Rule({"spam": {"spam": 0.8}}, {"spam": False})
    unsure, sure = output({"spam": 0.6, "ham": 0.4}, ["spam"]), output({"spam": 0.9, "ham": 0.1}, ["spam"])
    rule.apply([unsure, sure])
    assert unsure["heads"]["spam"]["predicted"] == ["ham"]  # below its cut-off: the next class that passes
    assert sure["heads"]["spam"]["predicted"] == ["spam"]
    strict = Rule({"spam": {"spam": 0.8, "ham": 0.8}}, {"spam": False})
    neither = output({"spam": 0.6, "ham": 0.4}, ["spam"])
    strict.apply([neither])
    assert neither["heads"]["spam"]["predicted"] == []  # no class passes: no prediction


def test_a_cut_off_below_one_half_lowers_the_bar_for_its_class() -> None:
    # A class whose score reaches its own cut-off wins over classes that have none, as "spam at >= 0.3" means.
    rule = Rule({"spam": {"spam": 0.3}}, {"spam": False})
    likely, unlikely = output({"spam": 0.35, "ham": 0.65}, ["ham"]), output({"spam": 0.2, "ham": 0.8}, ["ham"])
    rule.apply([likely, unlikely])
    assert likely["heads"]["spam"]["predicted"] == ["spam"]
    assert unlikely["heads"]["spam"]["predicted"] == ["ham"]


def test_a_multi_label_head_predicts_every_class_at_or_above_its_cut_off() -> None:
    rule = Rule({"tags": {"sport": 0.3, "music": 0.9}}, {"tags": True})
    answer = output({"sport": 0.35, "music": 0.6, "food": 0.7}, ["music", "food"], head="tags")
    rule.apply([answer])
    # sport now passes, music no longer does, food (no cut-off of its own) keeps the model's decision.
    assert answer["heads"]["tags"]["predicted"] == ["food", "sport"]


def test_heads_without_a_cut_off_and_generations_are_left_alone() -> None:
    rule = Rule({"spam": {"spam": 0.99}}, {"spam": False})
    other = output({"positive": 0.7, "negative": 0.3}, ["positive"], head="sentiment")
    reply = {"text": "hello", "finish_reason": "stop", "usage": {}}
    rule.apply([other, reply])
    assert other["heads"]["sentiment"]["predicted"] == ["positive"]
    assert reply == {"text": "hello", "finish_reason": "stop", "usage": {}}
    assert Rule.of(None) is None and Rule.of({"thresholds": {}, "multilabel": {}}) is None
