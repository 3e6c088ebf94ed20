"""The one shape of a service's background work: runs keyed by what they work on (a dataset's ingest, a
snapshot's build, a deployment's rollout...), resumed after a restart, and an optional periodic tick
(reconcile with a backend, flush counters), all stopped cleanly with the service.

A worker is built in its service's lifespan, ``await worker.start()`` after the database is ready and
``await worker.stop()`` on the way out. Subclasses say what to resume (:meth:`interrupted`), what one run does
(:meth:`run`) and what a tick does (:meth:`tick`, every ``tick_interval_s``, or sooner after :meth:`wake`).
Each reads and writes through its domain's repository, in short transactions from :meth:`transaction`, so no
transaction is held while it waits on something slow."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from automl_common.db.engine import Database

logger = logging.getLogger("automl.worker")


class Runs:
    """At most one asyncio task per key, cancellable, all cancelled at the end."""

    def __init__(self) -> None:
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, key: str, work: Callable[[], Coroutine[Any, Any, None]]) -> bool:
        """Run ``work()`` for ``key`` unless it is already running; True if it was started."""
        running = self.tasks.get(key)
        if running is not None and not running.done():
            return False
        task = asyncio.create_task(work(), name=key)
        self.tasks[key] = task
        task.add_done_callback(lambda _: self.tasks.pop(key, None) if self.tasks.get(key) is task else None)
        return True

    async def cancel(self, key: str) -> None:
        task = self.tasks.pop(key, None)
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def aclose(self) -> None:
        for key in list(self.tasks):
            await self.cancel(key)


class BackgroundWorker:
    name: str = "worker"  # names its runs and its tick task
    tick_interval_s: float | None = None  # None: no periodic tick

    def __init__(self, database: Database) -> None:
        self.database = database
        self.runs = Runs()
        self._wake = asyncio.Event()
        self._ticker: asyncio.Task[None] | None = None

    # -- what a worker defines ------------------------------------------------------------------------
    async def interrupted(self) -> Sequence[str]:
        """The keys whose runs a restart interrupted: started again by :meth:`start`."""
        return ()

    async def run(self, key: str) -> None:
        """One run of the work for ``key``."""
        raise NotImplementedError(f"{type(self).__name__} schedules no runs")

    async def tick(self) -> None:
        """The periodic work; an error is logged and the next tick comes as usual."""

    async def on_stop(self) -> None:
        """The last work before the service stops (a final flush), after the runs and the tick are cancelled."""

    # -- the shape every worker shares ----------------------------------------------------------------
    async def start(self) -> None:
        """Resume what a restart interrupted, then start the periodic tick."""
        await self.resume()
        if self.tick_interval_s is not None:
            self._ticker = asyncio.create_task(self._tick_forever(), name=f"{self.name}:tick")

    async def resume(self) -> None:
        for key in await self.interrupted():
            logger.info("%s: resuming %s", self.name, key)
            self.schedule(key)

    def schedule(self, key: str) -> bool:
        """Run :meth:`run` for ``key`` in the background unless it is running already; True if started."""
        return self.start_run(key, lambda: self.run(key))

    def start_run(self, key: str, work: Callable[[], Coroutine[Any, Any, None]]) -> bool:
        """``work`` as the run of ``key`` (for a worker with more than one kind of run)."""
        return self.runs.start(f"{self.name}:{key}", work)

    async def cancel(self, key: str) -> None:
        await self.runs.cancel(f"{self.name}:{key}")

    def wake(self) -> None:
        """Tick now rather than at the next interval."""
        self._wake.set()

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        await self.runs.aclose()
        await self.on_stop()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A short unit of work: committed when the block ends, rolled back if it raises."""
        async with self.database.session() as session:
            yield session

    async def _tick_forever(self) -> None:
        assert self.tick_interval_s is not None
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad tick (a database hiccup) must not stop the next ones
                logger.exception("%s: tick failed", self.name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.tick_interval_s)
            self._wake.clear()
