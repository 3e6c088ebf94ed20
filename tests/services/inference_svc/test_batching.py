"""The replica's dynamic batcher, on its own: batches form from what arrives while the model is busy."""

from __future__ import annotations

import asyncio

import pytest

from inference_svc.serving.batching import DynamicBatcher


class SlowModel:
    def __init__(self, delay_s: float = 0.02) -> None:
        self.delay_s = delay_s
        self.batches: list[list[int]] = []
        self.fail = False

    async def run(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        await asyncio.sleep(self.delay_s)
        if self.fail:
            raise RuntimeError("model exploded")
        return [item * 10 for item in items]


async def test_inputs_arriving_while_the_model_is_busy_form_the_next_batch() -> None:
    model = SlowModel()
    batcher = DynamicBatcher(model.run, max_batch_size=8, batch_wait_timeout_s=0.0)
    first = asyncio.create_task(batcher.submit(0))
    await asyncio.sleep(0.005)  # the model is now busy with [0]
    rest = [asyncio.create_task(batcher.submit(i)) for i in range(1, 21)]
    assert await first == 0
    assert await asyncio.gather(*rest) == [i * 10 for i in range(1, 21)]
    assert model.batches == [[0], list(range(1, 9)), list(range(9, 17)), list(range(17, 21))]
    assert batcher.stats.batches == 4
    assert batcher.stats.largest == 8
    assert batcher.stats.mean_size == pytest.approx(21 / 4)
    await batcher.aclose()


async def test_an_idle_model_waits_for_company_only_as_configured() -> None:
    model = SlowModel(delay_s=0.0)
    batcher = DynamicBatcher(model.run, max_batch_size=4, batch_wait_timeout_s=0.05)

    async def later(item: int, delay_s: float) -> int:
        await asyncio.sleep(delay_s)
        return await batcher.submit(item)

    assert list(await asyncio.gather(later(1, 0), later(2, 0.01), later(3, 0.2))) == [10, 20, 30]
    assert model.batches == [[1, 2], [3]]  # 3 came after the 50 ms wait
    batcher.configure(max_batch_size=1, batch_wait_timeout_s=0.05)
    assert list(await asyncio.gather(batcher.submit(4), batcher.submit(5))) == [40, 50]
    assert model.batches[-2:] == [[4], [5]]  # batching off: never more than one
    await batcher.aclose()


async def test_a_failed_batch_fails_its_callers_and_the_next_batch_still_runs() -> None:
    model = SlowModel()
    batcher = DynamicBatcher(model.run, max_batch_size=8, batch_wait_timeout_s=0.0)
    model.fail = True
    with pytest.raises(RuntimeError, match="model exploded"):
        await batcher.submit(1)
    model.fail = False
    assert await batcher.submit(2) == 20
    await batcher.aclose()


async def test_a_caller_that_gives_up_is_left_out_of_its_batch() -> None:
    model = SlowModel()
    batcher = DynamicBatcher(model.run, max_batch_size=8, batch_wait_timeout_s=0.0)
    busy = asyncio.create_task(batcher.submit(0))
    await asyncio.sleep(0.005)
    gone = asyncio.create_task(batcher.submit(1))
    kept = asyncio.create_task(batcher.submit(2))
    await asyncio.sleep(0)
    gone.cancel()
    assert await busy == 0
    assert await kept == 20
    assert model.batches == [[0], [2]]
    await batcher.aclose()
