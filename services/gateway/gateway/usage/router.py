from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from automl_common.deps import SessionDep
from automl_common.errors import (
    BadGateway,
    Forbidden,
    InvalidRequest,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
    error_responses,
)
from automl_proto.inference import TokenUsageDays, Usage, UsageRow
from gateway.auth import AdminDep
from gateway.deps import InferenceDep, UsageMeterDep
from gateway.usage.repository import UsageRepository

router = APIRouter(prefix="/v1/usage", tags=["usage"])
MAX_DAYS = 366
RowKey = tuple[date, str, str]  # day, deployment, key


@router.get(
    "",
    response_model=Usage,
    responses=error_responses(Unauthorized, Forbidden, RateLimited, InvalidRequest, BadGateway, ServiceUnavailable),
)
async def usage(
    session: SessionDep,
    principal: AdminDep,
    meter: UsageMeterDep,
    inference: InferenceDep,
    from_: Annotated[date | None, Query(alias="from", description="first day (UTC); default 30 days ago")] = None,
    to: Annotated[date | None, Query(description="last day (UTC), included; default today")] = None,
) -> Usage:
    """Calls to the org's deployments (and playground models) per day, key and deployment: requests, errors,
    latency, and an llm's tokens (counted where they are generated: whole answers, streams, async tasks)."""
    last = to or datetime.now(UTC).date()
    first = from_ or last - timedelta(days=30)
    if first > last:
        raise InvalidRequest(f"from: {first} is after to ({last})")
    if (last - first).days > MAX_DAYS:
        raise InvalidRequest(f"from/to: at most {MAX_DAYS} days at once")
    await meter.flush()  # this replica's latest counts too
    tokens = await inference.typed(
        TokenUsageDays,
        "GET",
        "/internal/usage/tokens",
        org_id=principal.org_id,
        params={"from": first.isoformat(), "to": last.isoformat()},
    )
    rows: dict[RowKey, UsageRow] = {}
    for row in await UsageRepository(session).days_of_org(principal.org_id, first, last):
        rows[(row.day, row.deployment_id, row.key_id)] = UsageRow(
            day=row.day,
            deployment_id=row.deployment_id,
            key_id=row.key_id,
            requests=row.requests,
            errors=row.errors,
            mean_latency_ms=round(row.latency_ms_sum / row.requests, 3) if row.requests else 0.0,
            max_latency_ms=round(row.latency_ms_max, 3),
            # What the gateway counted itself, from answers, before inference-svc counted tokens (kept).
            prompt_tokens=row.prompt_tokens,
            completion_tokens=row.completion_tokens,
        )
    for counted in tokens.items:  # an async task's tokens may fall on a later day than its call
        key = (counted.day, counted.deployment_id, counted.key_id)
        merged = rows.setdefault(
            key,
            UsageRow(
                day=counted.day,
                deployment_id=counted.deployment_id,
                key_id=counted.key_id,
                requests=0,
                errors=0,
                mean_latency_ms=0.0,
                max_latency_ms=0.0,
            ),
        )
        merged.prompt_tokens += counted.prompt_tokens
        merged.completion_tokens += counted.completion_tokens
    return Usage(items=[rows[key] for key in sorted(rows)])
