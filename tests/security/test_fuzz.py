"""Schemathesis over every service's own OpenAPI document, called the way the gateway calls them (the
internal token and an org id), and over the gateway's with an org's key: generated requests (positive and
negative, a fixed seed, a bounded number per operation) must never get a 500, only documented status codes,
and responses that match their documented schema.

Internal routes (``/internal/...``, ``/jobs/...``) are not in the documents and not fuzzed here; they are
reached only with the internal token or a job token."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from automl_common.context import INTERNAL_TOKEN_HEADER, ORG_ID_HEADER
from tests.support.api import INTERNAL_TOKEN, bearer
from tests.support.platform import Platform

EXAMPLES_PER_OPERATION = 25
SEED = 20261201
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


@dataclass
class Report:
    cases: int = 0
    failures: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def fuzzed(full_platform: Platform) -> Platform:
    return full_platform


def fuzz(base_url: str, headers: dict[str, str], mode: GenerationMode) -> Report:
    document = httpx.get(f"{base_url}/openapi.json", headers=headers).json()
    schema = schemathesis.openapi.from_dict(document)
    report = Report()
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an invalid document fails here, as it should
        run_operation(operation.as_strategy(generation_mode=mode), operation.label, base_url, headers, report)
    return report


def run_operation(strategy: Any, label: str, base_url: str, headers: dict[str, str], report: Report) -> None:
    @seed(SEED)
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        report.cases += 1
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except Exception as failure:  # every failure is collected, not just the first
            report.failures.append(f"{label}: {type(failure).__name__}: {str(failure)[:400]}")

    # Negative mode: an operation with nothing to get wrong (no parameters, no body) has no case to run.
    with contextlib.suppress(Unsatisfiable):
        run()


def org_of(platform: Platform, name: str) -> tuple[str, str]:
    created = httpx.post(
        f"{platform.gateway_url}/v1/orgs",
        json={"name": name},
        headers=bearer("test-operator-key-0123456789abcdefgh"),
    )
    assert created.status_code == 201, created.text
    return created.json()["id"], created.json()["admin_key"]


@pytest.mark.slow
@pytest.mark.parametrize("service", ["dataset", "snapshot", "trainer", "inference"])
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["positive", "negative"])
def test_every_service_api_under_fuzzing(fuzzed: Platform, service: str, mode: GenerationMode) -> None:
    org_id, _ = org_of(fuzzed, f"fuzz-{service}-{mode.value}")
    headers = {INTERNAL_TOKEN_HEADER: INTERNAL_TOKEN, ORG_ID_HEADER: org_id}
    report = fuzz(fuzzed.service_urls[service], headers, mode)
    print(f"{service} ({mode.value}): {report.cases} cases, {len(report.failures)} failures")
    assert report.cases > 0
    assert report.failures == [], "\n".join(report.failures[:30])


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["positive", "negative"])
def test_gateway_api_under_fuzzing(fuzzed: Platform, mode: GenerationMode, tmp_path: Path) -> None:
    _, key = org_of(fuzzed, f"fuzz-gateway-{mode.value}")
    report = fuzz(fuzzed.gateway_url, bearer(key), mode)
    print(f"gateway ({mode.value}): {report.cases} cases, {len(report.failures)} failures")
    assert report.cases > 0
    assert report.failures == [], "\n".join(report.failures[:30])
