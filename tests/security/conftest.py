"""Fixtures of the security tests: the small platform of tests/services (gateway, dataset-svc, snapshot-svc)
per test, and a whole one (trainer-svc and inference-svc too, on the process's one local Ray) per module."""

from __future__ import annotations

from tests.services.conftest import platform, tiny_bert
from tests.support.whole import full_platform, module_postgres_url

__all__ = ["full_platform", "module_postgres_url", "platform", "tiny_bert"]
