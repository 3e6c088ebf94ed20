"""``OrgSlots``: a per-org bound on long-running calls in one process (exports read, exports built,
playground calls on shared replicas): refused at once past the limit, per org, given back when a stream ends
or its reader goes away."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from automl_common.errors import RateLimited
from automl_common.quotas import OrgSlots


class Busy(RateLimited):
    pass


async def chunks() -> AsyncIterator[bytes]:
    for index in range(3):
        yield b"%d" % index


async def test_slots_are_per_org_refused_past_the_limit_and_given_back() -> None:
    slots = OrgSlots(2, error=Busy, what="things running", setting="MAX_THINGS")
    slots.take("org_a")
    slots.take("org_a")
    with pytest.raises(Busy) as refused:
        slots.take("org_a")
    assert "2 things running" in str(refused.value) and "MAX_THINGS 2" in str(refused.value)
    assert refused.value.status_code == 429 and refused.value.headers["Retry-After"] == "30"
    slots.take("org_b")  # another org is not held back
    read = [chunk async for chunk in slots.held_while("org_a", chunks())]
    assert read == [b"0", b"1", b"2"]
    slots.take("org_a")  # the stream read to its end gave its slot back
    left = slots.held_while("org_a", chunks())
    assert await anext(left) == b"0"
    await left.aclose()  # the reader went away
    slots.take("org_a")
