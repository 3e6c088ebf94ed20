"""llm exports are built apart from trainer-svc and bounded. The finding: a model export (merging a LoRA
adapter into its base) was built in the API process (+522 MiB for a 135M model, in a pod given 2 GiB), with
no bound on how many ran at once. (That an export is built in a child process, and loads with plain
transformers: tests/services/trainer_svc/test_llm.py.)"""

from __future__ import annotations

import asyncio

import pytest

from trainer_svc.models.export import BuildSlots, ExportsBusy


async def test_an_org_builds_few_exports_at_once_and_all_orgs_a_bounded_number() -> None:
    slots = BuildSlots(max_per_org=1, max_builds=1)
    release = asyncio.Event()
    running: list[str] = []

    async def build(org_id: str) -> None:
        async with slots.taken(org_id):
            running.append(org_id)
            await release.wait()

    first = asyncio.create_task(build("org_a"))
    await asyncio.sleep(0)
    assert running == ["org_a"]
    with pytest.raises(ExportsBusy) as busy:
        await build("org_a")  # refused at once, not queued behind its own
    assert busy.value.headers["Retry-After"] == "30" and "max_exports_per_org 1" in str(busy.value)
    other = asyncio.create_task(build("org_b"))  # another org's waits for the one build slot
    await asyncio.sleep(0.01)
    assert running == ["org_a"]
    release.set()
    await asyncio.gather(first, other)
    assert running == ["org_a", "org_b"]
    async with slots.taken("org_a"):  # done ones no longer count
        pass
