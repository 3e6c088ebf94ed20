from __future__ import annotations

from automl_common.db.counters import DailyCountsRepository
from inference_svc.tables import DailyTokens


class TokenRepository(DailyCountsRepository[DailyTokens]):
    model = DailyTokens
