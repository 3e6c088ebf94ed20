"""Training slots are shared fairly between orgs. The finding: one FIFO queue, where an org queued 10 runs
with deadlines of up to 7 days and other orgs' 1-step runs waited 13.5 minutes behind them."""

from __future__ import annotations

from trainer_svc.jobs.fairness import Queued, fair_order


def test_the_org_holding_fewest_slots_goes_first_then_the_oldest_run() -> None:
    greedy = [Queued(f"model_{index:02d}", "org_greedy") for index in range(10)]
    late = [Queued("model_50", "org_late"), Queued("model_60", "org_other")]
    order = fair_order(greedy + late, holding={"org_greedy": 1})
    # The two orgs holding nothing go first (the older first); then the greedy org, whose runs keep their order.
    assert order[:3] == ["model_50", "model_60", "model_00"]
    assert order[3:] == [f"model_{index:02d}" for index in range(1, 10)]
    # With nothing held, turns alternate while several orgs wait.
    assert fair_order(greedy[:3] + late, holding={})[:4] == ["model_00", "model_50", "model_60", "model_01"]
    assert fair_order([], holding={"org_greedy": 3}) == []
    # Holding as many slots, the org served least lately goes first: the greedy org just had its turn.
    assert fair_order(greedy[1:3] + late[:1], {}, served={"org_greedy": 5.0})[0] == "model_50"
