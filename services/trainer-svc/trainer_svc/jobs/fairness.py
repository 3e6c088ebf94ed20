"""Which queued run gets the next free slot: fair between orgs. The org holding the fewest slots goes first;
among those holding as many, the one served least lately (an org never served before any), then the one
whose oldest queued run is older; within an org its runs go oldest first. So one org queueing ten week-long
runs takes slot after slot only while no other org waits, and another org's run gets the next slot that
frees."""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Queued:
    model_id: str  # ids sort by creation time (ULIDs)
    org_id: str


def fair_order(
    queued: Iterable[Queued], holding: Mapping[str, int], served: Mapping[str, float] | None = None
) -> list[str]:
    """Every queued run's id, in the order they are to get slots. ``holding``: slots each org holds now;
    ``served``: when each org last got a slot (any increasing clock)."""
    last = dict(served or {})
    by_org: dict[str, deque[str]] = defaultdict(deque)
    for run in sorted(queued, key=lambda run: run.model_id):
        by_org[run.org_id].append(run.model_id)
    held = {org_id: holding.get(org_id, 0) for org_id in by_org}
    order: list[str] = []
    turn = max(last.values(), default=0.0)
    while by_org:
        org_id = min(by_org, key=lambda org: (held[org], last.get(org, float("-inf")), by_org[org][0]))
        order.append(by_org[org_id].popleft())
        held[org_id] += 1
        turn += 1.0
        last[org_id] = turn
        if not by_org[org_id]:
            del by_org[org_id]
    return order
