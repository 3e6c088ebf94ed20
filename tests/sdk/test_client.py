"""The SDK against the running platform of the test suite (no mock of the API): the whole journey with the
sync client, the async client, every error class mapped, retries on 429 and 503 that honour Retry-After,
pagination, and progress callbacks."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from automl_client import AsyncClient, Client, errors
from automl_client.config import Config
from automl_proto import inference
from tests.sdk.conftest import Org, new_org
from tests.support.platform import Platform


@pytest.fixture(scope="module")
def org(sdk_platform: Platform, tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Org:
    return new_org(sdk_platform, "sdk-client", tiny_bert, tmp_path_factory.mktemp("sdk"))


def statuses_seen(seen: list[tuple[str, int]]) -> Any:
    def record(response: httpx.Response) -> None:
        seen.append((response.request.url.path, response.status_code))

    return record


def test_the_whole_journey_with_the_sync_client(org: Org, tmp_path: Path) -> None:
    sent: list[tuple[int, int | None]] = []
    with Client(org.url, org.key) as client:
        assert client.orgs.me().id == org.org_id

        dataset = client.datasets.upload(
            org.csv, name="reviews", on_progress=lambda done, total: sent.append((done, total))
        )
        assert dataset.status == "processing"
        size = org.csv.stat().st_size
        assert sent[-1] == (size, size)  # the whole file, streamed, with its length known
        assert [done for done, _ in sent] == sorted(done for done, _ in sent)
        states: list[str] = []
        dataset = client.datasets.wait(dataset.id, on_progress=lambda state: states.append(state.status))
        assert dataset.status == "ready" and dataset.row_count == 120
        assert states[-1] == "ready"

        mapping = {column.name: "ignore" for column in dataset.columns} | {"text": "text", "sentiment": "label"}
        dataset = client.datasets.set_columns(dataset.id, mapping)
        assert dataset.mapping_confirmed
        rows = list(client.datasets.rows(dataset.id, limit=50))  # three pages
        assert [row.index for row in rows] == list(range(120))
        added = client.datasets.add_rows(dataset.id, [{"text": "great good fine", "sentiment": "positive"}])
        new_row = added.items[0]
        edited = client.datasets.update_row(dataset.id, new_row.id, {"sentiment": "negative"})
        assert edited.values["sentiment"] == "negative"
        client.datasets.delete_row(dataset.id, new_row.id)
        with pytest.raises(errors.NotFound):
            client.datasets.get_row(dataset.id, new_row.id)

        snapshot = client.snapshots.create(
            dataset_id=dataset.id,
            name="reviews",
            type="text_classification",
            input_column="text",
            heads=[{"column": "sentiment"}],
        )
        snapshot = client.snapshots.wait(snapshot.id)
        assert snapshot.status == "ready" and snapshot.row_count == 120
        assert client.snapshots.manifest(snapshot.id).row_count == 120
        assert list(client.snapshots.invalid_rows(snapshot.id)) == []
        parquet = client.snapshots.download(snapshot.id, tmp_path / "rows.parquet")
        assert parquet.size > 0 and (tmp_path / "rows.parquet").read_bytes()[:4] == b"PAR1"

        model = client.models.create(
            name="sentiment",
            base_model=org.base_model_id,
            method="last_layer",
            train_snapshot_id=snapshot.id,
            test_split_pct=25,
            options={"max_epochs": 6},
        )
        seen_progress: list[Any] = []
        model = client.models.wait(model.id, interval_s=0.2, on_progress=seen_progress.append)
        assert model.status == "succeeded", model.error
        assert {state.status for state in seen_progress} >= {"succeeded"}
        assert any(state.progress.step > 0 for state in seen_progress)
        report = client.models.metrics(model.id)
        head = report.heads["sentiment"]
        assert set(head.classes) == {"negative", "positive"}
        assert 0 <= head.macro.f1 <= 1 and head.confusion_matrix.matrix is not None
        strict = client.models.metrics(model.id, threshold=0.9)
        assert strict.heads["sentiment"].threshold == 0.9
        assert "sentiment" in client.models.card(model.id)
        assert [event.kind for event in client.models.events(model.id)][-1] == "succeeded"

        output, remaining = client.models.playground(model.id, "great good lovely")
        assert isinstance(output, inference.Prediction)
        assert remaining is not None and remaining >= 0

        deployment = client.deployments.create(model_id=model.id, name="sentiment", min_replicas=1)
        deployment = client.deployments.wait(deployment.id, timeout_s=240)
        assert deployment.status == "ready"
        answer = client.deployments.predict(deployment.id, ["great good", "awful bad"])
        assert len(answer.outputs) == 2
        task = client.deployments.create_task(deployment.id, ["great good"])
        task = client.tasks.wait(task.task_id)
        assert task.status == "succeeded" and task.outputs is not None

        batch = client.batch_predictions.create(deployment_id=deployment.id, snapshot_id=snapshot.id)
        progress: list[int] = []
        batch = client.batch_predictions.wait(
            batch.id, on_progress=lambda state: progress.append(state.progress.rows_done)
        )
        assert batch.status == "succeeded" and progress[-1] == 120
        results = client.batch_predictions.results(batch.id, tmp_path / "results.jsonl")
        assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 120 and results.size > 0

        # An operating point: checked against the model's heads and classes, versioned, used by predict.
        with pytest.raises(errors.InvalidRequest, match="not one of the heads"):
            client.deployments.update(deployment.id, operating_point={"thresholds": {"topic": {"x": 0.5}}})
        with pytest.raises(errors.InvalidRequest, match="not classes of the head"):
            client.deployments.update(deployment.id, operating_point={"thresholds": {"sentiment": {"meh": 0.5}}})
        strictest = client.deployments.update(
            deployment.id, operating_point={"thresholds": {"sentiment": {"positive": 0.99, "negative": 0.99}}}
        )
        assert strictest.operating_point.version == 1 and strictest.status == "ready"  # no new replicas
        undecided = client.deployments.predict(deployment.id, ["great good"]).outputs[0]
        assert isinstance(undecided, inference.Prediction)
        scores = undecided.heads["sentiment"].scores
        assert undecided.heads["sentiment"].predicted == [name for name in scores if scores[name] >= 0.99][:1]
        cleared = client.deployments.update(deployment.id, operating_point={"thresholds": {}})
        assert cleared.operating_point.version == 2 and cleared.operating_point.thresholds == {}

        key = client.keys.create("predict-only", scope="deployment", deployment_id=deployment.id)
        with Client(org.url, key.key) as scoped:
            assert len(scoped.deployments.predict(deployment.id, ["good"]).outputs) == 1
            with pytest.raises(errors.Forbidden) as refused:
                scoped.datasets.get(dataset.id)
            assert refused.value.request_id
        assert key.id in {listed.id for listed in client.keys.list()}
        assert client.keys.revoke(key.id).revoked_at is not None

        time.sleep(0.1)
        usage = client.usage.get()
        assert isinstance(usage, inference.Usage)
        assert client.deployments.delete(deployment.id).status in ("deleting", "ready")


def test_every_error_answer_raises_its_own_class(org: Org) -> None:
    with Client(org.url, org.key) as client:
        with pytest.raises(errors.NotFound) as missing:
            client.datasets.get("dataset_" + "0" * 26)
        error = missing.value
        assert type(error).__name__ == error.error and error.error.endswith("NotFound")
        assert error.status == 404 and error.detail and error.request_id
        with pytest.raises(errors.InvalidRequest) as invalid:
            client.models.metrics("model_" + "0" * 26, threshold=None, head="x" * 300)
        assert invalid.value.status == 422 and "head" in invalid.value.detail
        with pytest.raises(errors.APIError) as malformed:  # sent as it is: the server's validation answers
            client.request(
                "POST", "/v1/snapshots", build=lambda: {"content": b"{"}, headers={"Content-Type": "application/json"}
            )
        assert malformed.value.status in (400, 422)
    with Client(org.url, "aml_0000000000000000_" + "x" * 40, max_retries=0) as stranger:
        with pytest.raises(errors.Unauthorized) as unauthorized:
            stranger.datasets.list().__next__()
        assert unauthorized.value.error == "Unauthorized"
    # Every status the API's error classes use has a class of its own here.
    from automl_common import errors as server_errors

    for server_class in server_errors.AutoMLError.__subclasses__():
        if server_class.__module__ == server_errors.__name__:
            assert errors.BY_STATUS[server_class.status_code].__name__ == server_class.__name__
    # ...and every error class the platform's code defines (any name it can send) maps to a class of that name
    # under the class of its status.
    pending, every = list(server_errors.AutoMLError.__subclasses__()), []
    while pending:
        server_class = pending.pop()
        every.append(server_class)
        pending.extend(server_class.__subclasses__())
    assert len(every) > 30
    for server_class in every:
        mapped = errors.error_class(server_class.__name__, server_class.status_code)
        assert mapped.__name__ == server_class.__name__, server_class
        assert issubclass(mapped, errors.BY_STATUS.get(server_class.status_code, errors.APIError))


def test_pagination_walks_every_page(org: Org) -> None:
    seen: list[tuple[str, int]] = []
    with Client(org.url, org.key) as client:
        created = [
            client.datasets.upload(io.BytesIO(b"text,label\na,x\nb,y\n"), filename=f"p{n}.csv") for n in range(5)
        ]
        client._http.event_hooks["response"].append(statuses_seen(seen))
        listed = [dataset.id for dataset in client.datasets.list(limit=2)]
    assert {dataset.id for dataset in created} <= set(listed)
    assert len(listed) == len(set(listed))
    assert len([path for path, _ in seen if path == "/v1/datasets"]) >= 3  # 2 a page


def test_429_is_retried_after_its_retry_after(org: Org, sdk_platform: Platform) -> None:
    """A gateway of the same platform with a tiny rate limit: every call still gets its answer."""
    from gateway.app import create_app
    from tests.support.servers import running_server

    settings = sdk_platform.apps["gateway"].state.settings.model_copy(
        update={"rate_limit_per_s": 2.0, "rate_limit_burst": 1}
    )
    seen: list[tuple[str, int]] = []
    with running_server(create_app(settings)) as url, Client(url, org.key) as client:
        client._http.event_hooks["response"].append(statuses_seen(seen))
        began = time.monotonic()
        for _ in range(4):
            assert client.orgs.me().id == org.org_id
        elapsed = time.monotonic() - began
        time.sleep(1.0)  # the bucket refills (2 a second, at most 1)
        with Client(url, org.key, max_retries=0) as impatient:
            impatient.orgs.me()  # takes its one token
            with pytest.raises(errors.RateLimited) as limited:
                impatient.orgs.me()
    assert limited.value.retry_after_s is not None
    assert 429 in [status for _, status in seen]
    assert [status for _, status in seen][-1] == 200
    assert elapsed >= 0.5 * len([status for _, status in seen if status == 429])  # it waited each time


def test_503_is_retried_until_the_service_is_back(org: Org, sdk_platform: Platform, tmp_path: Path) -> None:
    """dataset-svc is not there when the call starts and comes up a second later: the 503s (Retry-After: 1)
    are retried and the call answers."""
    from dataset_svc.app import create_app as create_dataset_app
    from gateway.app import create_app
    from tests.support.ports import free_port
    from tests.support.servers import running_server

    port = free_port()
    settings = sdk_platform.apps["gateway"].state.settings.model_copy(
        update={"dataset_url": f"http://127.0.0.1:{port}"}
    )
    dataset_app = create_dataset_app(sdk_platform.apps["dataset"].state.settings)
    seen: list[tuple[str, int]] = []
    up = threading.Event()
    stop = threading.Event()

    def start_later() -> None:
        time.sleep(1.0)
        with running_server(dataset_app, port):
            up.set()
            stop.wait(60)

    with running_server(create_app(settings)) as url:
        with Client(url, org.key, max_retries=0) as impatient, pytest.raises(errors.ServiceUnavailable) as down:
            impatient.datasets.list().__next__()
        assert down.value.retry_after_s == 1
        starter = threading.Thread(target=start_later)
        starter.start()
        try:
            with Client(url, org.key, max_retries=6) as client:
                client._http.event_hooks["response"].append(statuses_seen(seen))
                listed = list(client.datasets.list())
        finally:
            stop.set()
            starter.join()
    assert up.is_set()
    statuses = [status for _, status in seen]
    assert statuses[0] == 503 and statuses[-1] == 200
    assert listed  # the org's datasets, once dataset-svc answered


def test_the_async_client(org: Org) -> None:
    async def journey() -> tuple[str, int, list[str]]:
        async with AsyncClient(config=Config(url=org.url, api_key=org.key)) as client:
            dataset = await client.datasets.upload(org.csv, name="async")
            ready = await client.datasets.wait(dataset.id)
            names = [listed.name async for listed in client.datasets.list(limit=3)]
            with pytest.raises(errors.NotFound):
                await client.snapshots.get("snapshot_" + "0" * 26)
            return ready.status, ready.row_count, names

    status, rows, names = asyncio.run(journey())
    assert (status, rows) == ("ready", 120)
    assert "async" in names


def test_a_wait_that_runs_out_of_time_says_so(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    with Client(org.url, org.key) as client:
        dataset = client.datasets.upload(org.csv)
        # Still processing, however fast this machine ingests it (a busy one could finish before the first look).
        monkeypatch.setattr(client.datasets, "get", lambda dataset_id: dataset)
        with pytest.raises(errors.WaitTimeout) as timed_out:
            client.datasets.wait(dataset.id, timeout_s=0.2, interval_s=0.05)
        assert timed_out.value.last.id == dataset.id and timed_out.value.last.status == "processing"
        monkeypatch.undo()
        client.datasets.wait(dataset.id)
