"""The chart's alerts and dashboards against the metrics the services really export.

Every metric an alert or a dashboard names is exported by a running service (its ``/metrics`` scraped), with
every label the expression uses; every alert parses (``promtool check rules``, Debian's Prometheus); the
PrometheusRule the chart renders holds those same rules; and a real Prometheus scraping the local services
answers a query through its API."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from deploy.helm.check import CHART, MINIMAL, render
from tests.support.platform import Platform, run_platform
from tests.support.ports import free_port

FILES = CHART / "files"
METRIC = re.compile(r"\bautoml_[a-z0-9_]+")
MATCHER = re.compile(r"\{([^}]*)\}")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def alert_expressions() -> dict[str, str]:
    groups = yaml.safe_load((FILES / "alerts.yaml").read_text())["groups"]
    return {rule["alert"]: rule["expr"] for group in groups for rule in group["rules"]}


def dashboard_expressions() -> dict[str, str]:
    found = {}
    for path in sorted((FILES / "dashboards").glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel["targets"]:
                found[f"{board['uid']}: {panel['title']} {target['refId']}"] = target["expr"]
    return found


def uses(expression: str) -> tuple[set[str], set[str]]:
    """The metric names an expression reads and the labels it matches or groups by."""
    labels = {m.split("=")[0].strip(" !~") for block in MATCHER.findall(expression) for m in block.split(",") if m}
    labels |= {name.strip() for block in GROUPING.findall(expression) for name in block.split(",") if name.strip()}
    return set(METRIC.findall(expression)), labels - {"le", ""}


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    database = tmp_path_factory.mktemp("monitoring")
    urls = {
        name: f"sqlite+aiosqlite:///{database / name}.db"
        for name in ("dataset", "snapshot", "gateway", "trainer", "inference")
    }
    with run_platform(
        tmp_path_factory.mktemp("platform"), urls, trainer_overrides={}, inference_overrides={}
    ) as running:
        yield running


@pytest.fixture(scope="module")
def exported(platform: Platform) -> dict[str, set[str]]:
    """Every metric family the services export, with its label names (from the scrape and each registry)."""
    families: dict[str, set[str]] = {}
    for url in [platform.gateway_url, *platform.service_urls.values()]:
        text = httpx.get(f"{url}/metrics", timeout=30).text
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                families.setdefault(line.split()[2], set())
    for app in platform.apps.values():
        registry = app.state.metrics_registry
        for collector, names in registry._collector_to_names.items():
            for name in names:
                families.setdefault(name, set()).update(getattr(collector, "_labelnames", ()))
    return families


def family_of(name: str, families: dict[str, set[str]]) -> str | None:
    if name in families:
        return name
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix) and name.removesuffix(suffix) in families:
            return name.removesuffix(suffix)
    return None


@pytest.mark.slow
def test_every_metric_and_label_of_an_alert_or_dashboard_is_exported(exported: dict[str, set[str]]) -> None:
    expressions = {f"alert {name}": expr for name, expr in alert_expressions().items()} | dashboard_expressions()
    assert len(expressions) >= 25
    missing = []
    for where, expression in expressions.items():
        metrics, labels = uses(expression)
        assert metrics, where
        known = {name: family_of(name, exported) for name in metrics}
        missing += [f"{where}: {name} is not exported" for name, family in known.items() if family is None]
        offered = set().union(*(exported[family] for family in known.values() if family is not None))
        missing += [f"{where}: no metric of it has the label {label!r}" for label in sorted(labels - offered)]
    assert missing == []


def test_the_alert_rules_parse() -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: `make test` installs Debian's prometheus package"
    checked = subprocess.run([promtool, "check", "rules", str(FILES / "alerts.yaml")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 6 rules found" in checked.stdout


def test_the_chart_renders_the_rules_and_the_dashboards() -> None:
    rendered = render(MINIMAL | {"monitoring": {"rules": {"enabled": True}}})
    (rule,) = rendered["monitoring.yaml"][:1]
    assert rule["kind"] == "PrometheusRule"
    assert rule["spec"] == yaml.safe_load((FILES / "alerts.yaml").read_text())
    dashboards = {obj["metadata"]["name"]: obj for obj in rendered["monitoring.yaml"] if obj["kind"] == "ConfigMap"}
    assert set(dashboards) == {f"demo-automl-dashboard-{name}" for name in ("inference", "overview", "training")}
    for config_map in dashboards.values():
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        (content,) = config_map["data"].values()
        board: dict[str, Any] = json.loads(content)
        assert board["templating"]["list"][0]["type"] == "datasource"
        assert all(panel["targets"] for panel in board["panels"])
    uids = [json.loads(p.read_text())["uid"] for p in (FILES / "dashboards").glob("*.json")]
    assert len(uids) == len(set(uids)) == 3


@pytest.mark.slow
def test_a_real_prometheus_scrapes_the_services(platform: Platform, tmp_path: Path) -> None:
    binary = shutil.which("prometheus")
    assert binary, "prometheus is missing: `make test` installs Debian's prometheus package"
    targets = [url.removeprefix("http://") for url in [platform.gateway_url, *platform.service_urls.values()]]
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(FILES / "alerts.yaml")],
        "scrape_configs": [{"job_name": "automl", "static_configs": [{"targets": targets}]}],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    httpx.get(f"{platform.gateway_url}/healthz")  # at least one request counted
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def query(expression: str) -> list[dict[str, Any]]:
            answer = httpx.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": expression}, timeout=5)
            result: list[dict[str, Any]] = answer.json()["data"]["result"]
            return result

        deadline = time.monotonic() + 60
        while True:
            try:
                up = query("up")
                services = {
                    item["metric"]["service"] for item in query("sum by (service) (automl_http_requests_total)")
                }
                if len(up) == len(targets) and {item["value"][1] for item in up} == {"1"} and "gateway" in services:
                    break  # every service scraped, and a series read back through the query API
            except (httpx.HTTPError, KeyError, ValueError):
                pass
            assert time.monotonic() < deadline, "Prometheus did not scrape every service"
            time.sleep(0.5)
        rules = httpx.get(f"http://127.0.0.1:{port}/api/v1/rules", timeout=5).json()
        assert len(rules["data"]["groups"][0]["rules"]) == 6  # the alerts load in a real Prometheus too
    finally:
        process.terminate()
        process.wait(timeout=30)
