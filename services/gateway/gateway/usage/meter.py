"""Usage of deployments per day, key and deployment: requests, errors and latency. Counted in memory on the
request path (no database write per call) and added to the database in increments every few seconds, so
several gateway replicas add up instead of overwriting each other."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func

from automl_common.db import Database, upsert_insert
from automl_proto.ids import ID_PATTERN
from gateway.models import DailyUsage

logger = logging.getLogger("automl.gateway.usage")

# The calls that are metered: predictions, generations and async tasks of one deployment, named by a
# well-formed id (a malformed one is refused before any deployment is reached, and is nobody's usage).
METERED = re.compile(
    r"^/v1/deployments/(?P<deployment_id>"
    + ID_PATTERN.removeprefix("^").removesuffix("$")
    + r")/(?:predict|tasks|chat/completions|completions)$"
)
# An answer's token usage is read from its body only up to this size (an llm's answers are small; a large
# classifier answer carries none).
USAGE_SCAN_BYTES = 1024 * 1024


def tokens_in(answer: Any) -> tuple[int, int]:
    """(prompt, completion) tokens of an answer: its ``usage``, or the sum over its ``outputs``' usage."""
    if not isinstance(answer, dict):
        return 0, 0
    usages = [answer.get("usage")] + [
        output.get("usage") for output in answer.get("outputs") or [] if isinstance(output, dict)
    ]
    prompt = completion = 0
    for usage in usages:
        if isinstance(usage, dict):
            prompt += int(usage.get("prompt_tokens") or 0)
            completion += int(usage.get("completion_tokens") or 0)
    return prompt, completion


class UsageReader:
    """Token usage read from a response body as it passes through the gateway: a JSON answer (read whole once
    it is complete, if it is small and names a usage) or a stream of server-sent events (each event with a
    usage counted as it passes)."""

    def __init__(self, content_type: str) -> None:
        self.events = content_type.startswith("text/event-stream")
        self.buffer = bytearray()
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.overflowed = False

    def feed(self, chunk: bytes) -> None:
        if self.overflowed:
            return
        self.buffer += chunk
        if len(self.buffer) > USAGE_SCAN_BYTES:
            self.overflowed, self.buffer = True, bytearray()
            return
        if self.events:
            while (end := self.buffer.find(b"\n\n")) >= 0:
                event, self.buffer = bytes(self.buffer[:end]), self.buffer[end + 2 :]
                for line in event.split(b"\n"):
                    if line.startswith(b"data: {") and b'"usage"' in line:
                        self._count(line[6:])

    def close(self) -> None:
        if not self.events and not self.overflowed and b'"usage"' in self.buffer:
            self._count(bytes(self.buffer))
        self.buffer = bytearray()

    def _count(self, data: bytes) -> None:
        try:
            prompt, completion = tokens_in(json.loads(data))
        except (ValueError, TypeError):
            return
        self.prompt_tokens += prompt
        self.completion_tokens += completion


UsageKey = tuple[date, str, str, str]  # day, org, deployment, key


@dataclass
class _Counts:
    requests: int = 0
    errors: int = 0
    latency_ms_sum: float = 0.0
    latency_ms_max: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, other: _Counts) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.latency_ms_sum += other.latency_ms_sum
        self.latency_ms_max = max(self.latency_ms_max, other.latency_ms_max)
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens


class UsageMeter:
    def __init__(self, database: Database, flush_interval_s: float) -> None:
        self.database = database
        self.flush_interval_s = flush_interval_s
        self._pending: dict[UsageKey, _Counts] = {}
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def record(
        self,
        org_id: str,
        deployment_id: str,
        key_id: str,
        status: int,
        latency_ms: float,
        count: int = 1,
        tokens: tuple[int, int] = (0, 0),
    ) -> None:
        """``count`` predictions (a batch's rows) in one call, ``tokens`` (prompt, completion) an llm's;
        ``deployment_id`` may be a model's id (the playground and batch predictions straight from a model)."""
        key = (datetime.now(UTC).date(), org_id, deployment_id, key_id)
        self._pending.setdefault(key, _Counts()).add(
            _Counts(
                requests=count,
                errors=count if status >= 400 else 0,
                latency_ms_sum=latency_ms,
                latency_ms_max=latency_ms,
                prompt_tokens=tokens[0],
                completion_tokens=tokens[1],
            )
        )

    def start(self) -> None:
        self._task = asyncio.create_task(self._flush_forever(), name="usage-flush")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval_s)
            try:
                await self.flush()
            except Exception:
                logger.exception("writing usage failed; kept for the next flush")

    async def flush(self) -> None:
        async with self._lock:
            pending, self._pending = self._pending, {}
            if not pending:
                return
            try:
                async with self.database.session() as session:
                    postgres = session.get_bind().dialect.name == "postgresql"
                    greatest = func.greatest if postgres else func.max  # SQLite's max of two values
                    for (day, org_id, deployment_id, key_id), counts in sorted(pending.items()):
                        statement = upsert_insert(session, DailyUsage).values(
                            day=day,
                            org_id=org_id,
                            deployment_id=deployment_id,
                            key_id=key_id,
                            requests=counts.requests,
                            errors=counts.errors,
                            latency_ms_sum=counts.latency_ms_sum,
                            latency_ms_max=counts.latency_ms_max,
                            prompt_tokens=counts.prompt_tokens,
                            completion_tokens=counts.completion_tokens,
                        )
                        table = DailyUsage.__table__
                        await session.execute(
                            statement.on_conflict_do_update(
                                index_elements=["day", "org_id", "deployment_id", "key_id"],
                                set_={
                                    "requests": table.c.requests + statement.excluded.requests,
                                    "errors": table.c.errors + statement.excluded.errors,
                                    "latency_ms_sum": table.c.latency_ms_sum + statement.excluded.latency_ms_sum,
                                    "latency_ms_max": greatest(
                                        table.c.latency_ms_max, statement.excluded.latency_ms_max
                                    ),
                                    "prompt_tokens": table.c.prompt_tokens + statement.excluded.prompt_tokens,
                                    "completion_tokens": table.c.completion_tokens
                                    + statement.excluded.completion_tokens,
                                },
                            )
                        )
            except BaseException:
                for key, counts in pending.items():  # keep them for the next try
                    self._pending.setdefault(key, _Counts()).add(counts)
                raise
