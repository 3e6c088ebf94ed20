"""An llm's replies scored as a classifier's (exact match): the macro averages are over the classes that occur
in the answers or the replies, as scikit-learn's are. The finding: ``(any other reply)`` was always a class,
so with no reply there macro-F1 read 0.47 where the two real classes give 0.71."""

from __future__ import annotations

import pytest
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

from trainer_svc.worker.llm import OTHER, exact_match_report


@pytest.mark.parametrize(
    "replies",
    [
        ["yes", "yes", "no", "yes", "no", "no", "yes", "yes"],  # every reply one of the answers
        ["yes", "maybe", "no", "yes", "", "no", "yes", "sure"],  # some outside them
    ],
    ids=["no other reply", "other replies"],
)
def test_the_averages_are_scikit_learns(replies: list[str]) -> None:
    expected = ["yes", "no", "no", "yes", "no", "yes", "yes", "no"]
    report = exact_match_report(expected, replies)["heads"]["reply"]
    mapped = [reply if reply in expected else OTHER for reply in replies]
    assert (OTHER in report["classes"]) == (OTHER in mapped)
    for average in ("macro", "weighted", "micro"):
        precision, recall, f1, _ = precision_recall_fscore_support(expected, mapped, average=average, zero_division=0)
        got = report[average]
        assert (got["precision"], got["recall"], got["f1"]) == pytest.approx((precision, recall, f1)), average
    assert report["accuracy"] == pytest.approx(accuracy_score(expected, mapped))
