"""The console's pages, server time, with a 1,000,000-row dataset (target: every page under 300 ms).

The whole platform as `make up` runs it (its own processes, a local Ray), dataset-svc and snapshot-svc on
Postgres: a 1,000,000-row CSV as a dataset and a snapshot of it, plus a small model (MiniLM, last layer, on
300 SMS messages) and its deployment, so that the model and deployment pages have something to show. Each
page is fetched 20 times with a signed-in session (loopback, so the time is the server's); its p50 and max
are printed with the p50 of the public API call the page's main content comes from, measured in the same run,
and the ratio between them (the console's own cost: templates, and the calls it makes in process).

Run: `python -m bench.console [--rows N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from automl_client import Client
from bench.dataset_ingest import build_csv
from bench.platform_procs import local_platform
from deploy.local.sms_spam import write_csv
from tests.support import postgres

RUNS = 20
TARGET_MS = 300.0


def timed(client: httpx.Client, path: str) -> tuple[float, float]:
    """p50 and max milliseconds of ``RUNS`` GETs of ``path`` (each must answer 200)."""
    times = []
    client.get(path)  # warm: the first call of a page compiles its template
    for _ in range(RUNS):
        started = time.perf_counter()
        answer = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        if answer.status_code != 200:
            raise RuntimeError(f"{path}: {answer.status_code} {answer.text[:300]}")
    return statistics.median(times), max(times)


def prepare(sdk: Client, csv_path: Path, sms_path: Path) -> dict[str, str]:
    started = time.perf_counter()
    big = sdk.datasets.wait(sdk.datasets.upload(csv_path, name="one-million").id, timeout_s=1800)
    sdk.datasets.set_columns(big.id, {"text": "text", "label": "label"})
    print(f"1,000,000-row dataset ready in {time.perf_counter() - started:.1f} s", flush=True)
    started = time.perf_counter()
    big_snapshot = sdk.snapshots.create(
        dataset_id=big.id, name="one-million", type="text_classification", input_column="text",
        heads=[{"column": "label"}],
    )  # fmt: skip
    big_snapshot = sdk.snapshots.wait(big_snapshot.id, timeout_s=1800)
    print(f"its snapshot ready in {time.perf_counter() - started:.1f} s", flush=True)
    small = sdk.datasets.wait(sdk.datasets.upload(sms_path, name="sms").id)
    sdk.datasets.set_columns(small.id, {"text": "text", "label": "label"})
    snapshot = sdk.snapshots.wait(
        sdk.snapshots.create(
            dataset_id=small.id, name="sms", type="text_classification", input_column="text",
            heads=[{"column": "label"}],
        ).id
    )  # fmt: skip
    model = sdk.models.create(
        name="sms", base_model="minilm-l6", method="last_layer", train_snapshot_id=snapshot.id, test_split_pct=20,
        options={"max_epochs": 5},
    )  # fmt: skip
    model = sdk.models.wait(model.id, timeout_s=1800)
    deployment = sdk.deployments.wait(
        sdk.deployments.create(model_id=model.id, name="sms", min_replicas=1).id, timeout_s=600
    )
    sdk.deployments.predict(deployment.id, ["free prize, call now"])
    return {"dataset": big.id, "snapshot": big_snapshot.id, "model": model.id, "deployment": deployment.id}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    asyncio.run(run(args.rows))


async def run(rows: int) -> None:
    database_url = await postgres.create_database()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-console-") as scratch:
            work = Path(scratch)
            size = build_csv(work / "big.csv", rows)
            sms = write_csv(work / "sms.csv", limit=300)
            print(f"{rows:,} rows, {size / 1e6:.0f} MB; platform starting", flush=True)
            settings = {
                "AUTOML_DATASET_DATABASE_URL": database_url,
                "AUTOML_SNAPSHOT_DATABASE_URL": database_url,
                "AUTOML_GATEWAY_RATE_LIMIT_PER_S": "100000",
                "AUTOML_GATEWAY_RATE_LIMIT_BURST": "100000",
            }
            with local_platform(work / "data", **settings) as platform:
                with Client(platform.gateway_url, platform.admin_key, timeout_s=600) as sdk:
                    ids = await asyncio.to_thread(prepare, sdk, work / "big.csv", sms)
                measure(platform.gateway_url, platform.admin_key, ids, rows)
    finally:
        await postgres.drop_database(database_url)


def measure(gateway: str, key: str, ids: dict[str, str], rows: int) -> None:
    last = max(0, rows - 50)
    pages = [
        ("sign-in page", "/login", None),
        ("datasets", "/datasets", "/v1/datasets?limit=100"),
        ("dataset, first rows", f"/datasets/{ids['dataset']}", f"/v1/datasets/{ids['dataset']}/rows?limit=50"),
        (
            f"dataset, rows {last:,}+",
            f"/datasets/{ids['dataset']}?start={last}",
            f"/v1/datasets/{ids['dataset']}/rows?limit=50&start={last}",
        ),
        (
            "dataset, invalid rows",
            f"/datasets/{ids['dataset']}?status=invalid",
            f"/v1/datasets/{ids['dataset']}/rows?limit=50&status=invalid",
        ),
        ("snapshots", "/snapshots", "/v1/snapshots?limit=100"),
        ("snapshot report", f"/snapshots/{ids['snapshot']}", f"/v1/snapshots/{ids['snapshot']}"),
        ("models", "/models", "/v1/models?limit=100"),
        ("model metrics page", f"/models/{ids['model']}", f"/v1/models/{ids['model']}/metrics"),
        ("deployments", "/deployments", "/v1/deployments?limit=100"),
        ("deployment", f"/deployments/{ids['deployment']}", f"/v1/deployments/{ids['deployment']}"),
        ("keys", "/keys", "/v1/keys?limit=200"),
        ("usage", "/usage", "/v1/usage"),
    ]
    with (
        httpx.Client(base_url=gateway, timeout=60) as browser,
        httpx.Client(base_url=gateway, headers={"Authorization": f"Bearer {key}"}, timeout=60) as api,
    ):
        # The sign-in form as a browser sends it: the page first (its login cookie and token), then the form.
        token = re.search(r'name="login_token" value="([0-9a-f]{64})"', browser.get("/login").text)
        assert token is not None, "the sign-in page has no login token"
        signed_in = browser.post("/login", data={"api_key": key, "next": "/datasets", "login_token": token.group(1)})
        assert signed_in.status_code == 303, signed_in.text[:300]
        assert re.search(r'data-csrf="[0-9a-f]{64}"', browser.get("/datasets").text)
        print(f"\n{'page':<28}{'p50 ms':>9}{'max ms':>9}{'API p50 ms':>12}{'ratio':>8}   target < {TARGET_MS:.0f} ms")
        worst = 0.0
        for name, path, source in pages:
            p50, slowest = timed(browser, path)
            base = timed(api, source)[0] if source else None
            worst = max(worst, p50)
            ratio = f"{p50 / base:.1f}x" if base else "-"
            base_text = f"{base:.1f}" if base is not None else "-"
            print(
                f"{name:<28}{p50:>9.1f}{slowest:>9.1f}{base_text:>12}{ratio:>8}   {'ok' if p50 < TARGET_MS else 'OVER'}"
            )
        print(f"\nslowest page p50: {worst:.1f} ms (target < {TARGET_MS:.0f} ms)")


if __name__ == "__main__":
    main()
