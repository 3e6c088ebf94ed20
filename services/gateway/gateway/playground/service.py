"""A model's free playground queries for one org, held for one call: taken before it is forwarded, given back
when the call did not spend them, the call metered in ``/v1/usage``. Each step is its own short transaction,
so no transaction is held while the model answers; the handlers only translate HTTP."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from prometheus_client import Counter

from automl_common.db import Database
from automl_common.errors import AutoMLError
from gateway.auth import Principal
from gateway.playground.repository import PlaygroundQuotaRepository
from gateway.usage.meter import UsageMeter

REMAINING_HEADER = "X-Playground-Remaining"


class PlaygroundQuotaExhausted(AutoMLError):
    status_code = 429


def spent(status_code: int) -> bool:
    """Whether a playground query is used up: answered, or timed out (its generation may have run, on the
    shared replica, until its deadline). A refusal (4xx), or a model that could not be reached or could not
    answer (502, 503), gives the query back."""
    return status_code < 400 or status_code == 504


@dataclass
class PlaygroundQuotas:
    """The app's playground quotas (one per org and model), each ``limit`` free queries."""

    database: Database
    meter: UsageMeter
    exhausted: Counter
    limit: int

    def reservation(self, principal: Principal, model_id: str) -> QuotaReservation:
        return QuotaReservation(self, principal, model_id)


@dataclass
class QuotaReservation:
    quotas: PlaygroundQuotas
    principal: Principal
    model_id: str
    reserved: int = 0
    remaining: int = 0
    began: float = field(default_factory=time.perf_counter)

    @property
    def org_id(self) -> str:
        return self.principal.org_id

    async def take_one(self) -> int:
        """One query of the quota; the queries left after it. None left: the error to deploy the model."""
        async with self.quotas.database.session() as session:
            remaining = await PlaygroundQuotaRepository(session).take(self.org_id, self.model_id, self.quotas.limit)
        if remaining is None:
            raise self._exhausted()
        self.reserved, self.remaining = 1, remaining
        return remaining

    async def take_all(self) -> int:
        """Every query left (for a batch whose size is known only later); how many were reserved."""
        async with self.quotas.database.session() as session:
            repository = PlaygroundQuotaRepository(session)
            self.reserved = await repository.take_all(self.org_id, self.model_id, self.quotas.limit)
        if self.reserved == 0:
            raise self._exhausted()
        return self.reserved

    async def settle(self, status_code: int, used: int | None = None) -> int:
        """After the call answered ``status_code``: give back what it did not spend (``used`` of a batch's
        reservation; one query unless ``spent``), forget the count of a model id that named no model of the
        org (404: it must leave no row behind), meter the call; the queries left."""
        if used is None:
            used = self.reserved if spent(status_code) else 0
        async with self.quotas.database.session() as session:
            repository = PlaygroundQuotaRepository(session)
            if self.reserved - used > 0:
                self.remaining = await repository.give_back_many(
                    self.org_id, self.model_id, self.reserved - used, self.quotas.limit
                )
            if status_code == 404:
                await repository.forget_unused(self.org_id, self.model_id)
        self.reserved = used
        if status_code != 404:  # an unknown model is nobody's usage
            self.meter(status_code, max(used, 1))
        return self.remaining

    def meter(self, status_code: int, count: int = 1) -> None:
        """The call in ``/v1/usage`` (an llm's tokens are counted by inference-svc, which generates them)."""
        latency_ms = (time.perf_counter() - self.began) * 1000
        self.quotas.meter.record(self.org_id, self.model_id, self.principal.key_id, status_code, latency_ms, count)

    def _exhausted(self) -> PlaygroundQuotaExhausted:
        self.quotas.exhausted.inc()
        return PlaygroundQuotaExhausted(
            f"the {self.quotas.limit} free playground queries of model {self.model_id!r} are used up; deploy the "
            "model (POST /v1/deployments) to keep predicting",
            headers={REMAINING_HEADER: "0"},
        )
