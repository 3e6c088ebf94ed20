"""Usage of deployments per day, key and deployment: requests, errors and latency, counted on the request
path and added to the database in increments (``automl_common.counters``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from automl_common.counters import IncrementalCounters
from automl_common.db import Database
from automl_proto.ids import ID_PATTERN
from gateway.models import DailyUsage

# The calls that are metered: predictions, generations and async tasks of one deployment, named by a
# well-formed id (a malformed one is refused before any deployment is reached, and is nobody's usage).
METERED = re.compile(
    r"^/v1/deployments/(?P<deployment_id>"
    + ID_PATTERN.removeprefix("^").removesuffix("$")
    + r")/(?:predict|tasks|chat/completions|completions)$"
)


class UsageMeter(IncrementalCounters):
    """Calls to deployments (and playground models) per day, org, deployment and key. Tokens are not counted
    here: inference-svc counts those where they are generated (``GET /internal/usage/tokens``)."""

    def __init__(self, database: Database, flush_interval_s: float) -> None:
        super().__init__(
            database,
            DailyUsage.__table__,
            keys=("day", "org_id", "deployment_id", "key_id"),
            sums=("requests", "errors", "latency_ms_sum"),
            maxima=("latency_ms_max",),
            flush_interval_s=flush_interval_s,
        )

    def record(
        self, org_id: str, deployment_id: str, key_id: str, status: int, latency_ms: float, count: int = 1
    ) -> None:
        """``count`` predictions (a batch's rows) in one call; ``deployment_id`` may be a model's id (the
        playground and batch predictions straight from a model)."""
        key = (datetime.now(UTC).date(), org_id, deployment_id, key_id)
        errors = count if status >= 400 else 0
        self.add(key, {"requests": count, "errors": errors, "latency_ms_sum": latency_ms, "latency_ms_max": latency_ms})
