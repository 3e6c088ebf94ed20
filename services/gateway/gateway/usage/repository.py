from __future__ import annotations

from automl_common.db.counters import DailyCountsRepository
from gateway.models import DailyUsage


class UsageRepository(DailyCountsRepository[DailyUsage]):
    model = DailyUsage
