"""The sync client is generated from the async one; the committed copy must be what the generator writes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import automl_client


def test_the_sync_client_is_up_to_date_with_the_async_one() -> None:
    root = Path(automl_client.__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "-m", "automl_client._generate", "--check"], cwd=root, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
