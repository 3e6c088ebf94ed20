"""An llm's tokens, counted where they are generated: a whole answer's usage, a stream's (a cut one to its last
piece sent: what it had cost then), an async task's replies. Per day, org, deployment (or playground model)
and key; the gateway's ``/v1/usage`` reads them (``GET /internal/usage/tokens``)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from automl_common.counters import IncrementalCounters
from automl_common.db import Database
from inference_svc.tables import DailyTokens


@dataclass(frozen=True)
class Payer:
    """Whom a call's tokens are billed to: the org and the key that made it."""

    org_id: str
    key_id: str


def _count(usage: object, name: str) -> int:
    value = usage.get(name) if isinstance(usage, Mapping) else None
    return value if isinstance(value, int) and value > 0 else 0


class TokenMeter(IncrementalCounters):
    def __init__(self, database: Database, flush_interval_s: float) -> None:
        super().__init__(
            database,
            DailyTokens.__table__,
            keys=("day", "org_id", "deployment_id", "key_id"),
            sums=("prompt_tokens", "completion_tokens"),
            flush_interval_s=flush_interval_s,
        )

    def record(self, payer: Payer, deployment_id: str, usage: object) -> None:
        """One reply's ``usage`` (``prompt_tokens``, ``completion_tokens``); nothing for a reply without one."""
        tokens = {name: _count(usage, name) for name in ("prompt_tokens", "completion_tokens")}
        if any(tokens.values()):
            self.add((datetime.now(UTC).date(), payer.org_id, deployment_id, payer.key_id), tokens)

    def record_outputs(self, payer: Payer, deployment_id: str, outputs: Iterable[Mapping[str, Any]]) -> None:
        for output in outputs:
            self.record(payer, deployment_id, output.get("usage"))

    async def metered(
        self, payer: Payer, deployment_id: str, replies: AsyncGenerator[dict[str, Any]]
    ) -> AsyncGenerator[dict[str, Any]]:
        """``replies`` as they come; once they end, however they end (read to the end, the reader gone, the
        time up), the tokens the last piece said were spent are counted."""
        usage: object = None
        try:
            async with contextlib.aclosing(replies):
                async for item in replies:
                    usage = item.get("usage", usage)
                    yield item
        finally:
            self.record(payer, deployment_id, usage)
