from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.platform import Platform, run_platform


@pytest.fixture
def platform(tmp_path: Path, database_url: str) -> Iterator[Platform]:
    """The gateway, dataset-svc and snapshot-svc as real servers on one database (SQLite or Postgres)."""
    with run_platform(tmp_path, {"dataset": database_url, "gateway": database_url}) as running:
        yield running
