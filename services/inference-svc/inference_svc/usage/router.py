"""The tokens an org's calls cost, for the gateway's ``/v1/usage``."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from automl_common.auth import OrgIdDep
from automl_common.deps import SessionDep
from automl_common.errors import InvalidRequest, error_responses
from automl_proto.inference import TokenUsageDay, TokenUsageDays
from inference_svc.deps import TokenMeterDep
from inference_svc.usage.repository import TokenRepository

internal_router = APIRouter(prefix="/internal/usage", tags=["internal"], include_in_schema=False)


@internal_router.get("/tokens", response_model=TokenUsageDays, responses=error_responses(InvalidRequest))
async def tokens(
    session: SessionDep,
    meter: TokenMeterDep,
    org_id: OrgIdDep,
    first: Annotated[date, Query(alias="from")],
    last: Annotated[date, Query(alias="to")],
) -> TokenUsageDays:
    await meter.flush()  # this replica's latest counts too
    rows = await TokenRepository(session).days_of_org(org_id, first, last)
    return TokenUsageDays(
        items=[
            TokenUsageDay(
                day=row.day,
                deployment_id=row.deployment_id,
                key_id=row.key_id,
                prompt_tokens=row.prompt_tokens,
                completion_tokens=row.completion_tokens,
            )
            for row in rows
        ]
    )
