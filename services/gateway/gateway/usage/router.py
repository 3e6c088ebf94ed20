from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from automl_common.deps import SessionDep
from automl_common.errors import Forbidden, InvalidRequest, RateLimited, Unauthorized, error_responses
from automl_proto.inference import Usage, UsageRow
from gateway.auth import AdminDep
from gateway.models import DailyUsage
from gateway.usage.meter import UsageMeter

router = APIRouter(prefix="/v1/usage", tags=["usage"])
MAX_DAYS = 366


@router.get("", response_model=Usage, responses=error_responses(Unauthorized, Forbidden, RateLimited, InvalidRequest))
async def usage(
    request: Request,
    session: SessionDep,
    principal: AdminDep,
    from_: Annotated[date | None, Query(alias="from", description="first day (UTC); default 30 days ago")] = None,
    to: Annotated[date | None, Query(description="last day (UTC), included; default today")] = None,
) -> Usage:
    """Calls to the org's deployments (and playground models) per day, key and deployment: requests, errors,
    latency, and an llm's tokens."""
    last = to or datetime.now(UTC).date()
    first = from_ or last - timedelta(days=30)
    if first > last:
        raise InvalidRequest(f"from: {first} is after to ({last})")
    if (last - first).days > MAX_DAYS:
        raise InvalidRequest(f"from/to: at most {MAX_DAYS} days at once")
    meter: UsageMeter = request.app.state.usage_meter
    await meter.flush()  # this replica's latest counts too
    rows = await session.scalars(
        select(DailyUsage)
        .where(DailyUsage.org_id == principal.org_id, DailyUsage.day >= first, DailyUsage.day <= last)
        .order_by(DailyUsage.day, DailyUsage.deployment_id, DailyUsage.key_id)
    )
    return Usage(
        items=[
            UsageRow(
                day=row.day,
                deployment_id=row.deployment_id,
                key_id=row.key_id,
                requests=row.requests,
                errors=row.errors,
                mean_latency_ms=round(row.latency_ms_sum / row.requests, 3) if row.requests else 0.0,
                max_latency_ms=round(row.latency_ms_max, 3),
                prompt_tokens=row.prompt_tokens,
                completion_tokens=row.completion_tokens,
            )
            for row in rows
        ]
    )
