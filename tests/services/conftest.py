from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.platform import Platform, run_platform
from tests.support.tiny_models import build_tiny_bert


@pytest.fixture
def platform(tmp_path: Path, database_url: str) -> Iterator[Platform]:
    """The gateway, dataset-svc and snapshot-svc as real servers on one database (SQLite or Postgres)."""
    with run_platform(tmp_path, {"dataset": database_url, "gateway": database_url}) as running:
        yield running


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT (2 layers, 32 wide) over the test vocabulary, built once per run."""
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))
