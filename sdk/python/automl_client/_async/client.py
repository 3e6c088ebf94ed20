"""The client (async). ``automl_client/_sync`` is generated from this file (``python -m
automl_client._generate``): edit here, then regenerate."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, TypeVar, overload

import httpx
from pydantic import BaseModel, TypeAdapter

from automl_client._base import (
    FAILED,
    PENDING,
    RETRIED_STATUSES,
    Download,
    Page,
    ProgressCallback,
    ProgressReader,
    model_of,
    parse,
    retry_delay,
    url_path,
)
from automl_client.config import Config, resolve
from automl_client.errors import ConnectionFailed, ResourceFailed, WaitTimeout, error_from
from automl_proto import datasets, inference, metrics, models, openai, orgs, snapshots

M = TypeVar("M", bound=BaseModel)
USER_AGENT = "automl-client/0.1.0"
_OUTPUT: TypeAdapter[inference.Output] = TypeAdapter(inference.Output)


class AsyncClient:
    """The whole public API. Configuration from arguments, else the environment, else a profile (see
    ``automl_client.config``). 429 and 503 answers are retried after their Retry-After (``max_retries``
    times), creates carry an Idempotency-Key so that a retry never makes a second resource."""

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        profile: str | None = None,
        timeout_s: float | None = None,
        max_retries: int | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        config: Config | None = None,
    ) -> None:
        self.config = config or resolve(url, api_key, profile=profile, timeout_s=timeout_s, max_retries=max_retries)
        self._http = httpx.AsyncClient(
            base_url=self.config.url,
            headers={"Authorization": f"Bearer {self.config.api_key}", "User-Agent": USER_AGENT},
            timeout=self.config.timeout_s,
            transport=transport,
        )
        self.orgs = AsyncOrgs(self)
        self.keys = AsyncKeys(self)
        self.datasets = AsyncDatasets(self)
        self.snapshots = AsyncSnapshots(self)
        self.base_models = AsyncBaseModels(self)
        self.models = AsyncModels(self)
        self.deployments = AsyncDeployments(self)
        self.tasks = AsyncTasks(self)
        self.batch_predictions = AsyncBatchPredictions(self)
        self.usage = AsyncUsage(self)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- transport ------------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: BaseModel | None = None,
        build: Callable[[], dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One call, retried on 429 / 503 and on connection failures; an error answer raises its class.
        ``build`` makes the body afresh for each attempt (an upload rewinds its file)."""
        sent_headers = dict(headers or {})
        if method == "POST" and "Idempotency-Key" not in sent_headers:
            sent_headers["Idempotency-Key"] = uuid.uuid4().hex
        query = {key: value for key, value in (params or {}).items() if value is not None}
        attempt = 0
        while True:
            extra: dict[str, Any] = build() if build is not None else {}
            if json is not None:
                extra["content"] = json.model_dump_json(exclude_unset=True)
                sent_headers["Content-Type"] = "application/json"
            try:
                response = await self._http.request(method, url, params=query, headers=sent_headers, **extra)
            except httpx.TransportError as error:
                if attempt >= self.config.max_retries or not isinstance(error, httpx.ConnectError):
                    raise ConnectionFailed(f"{method} {url}: {type(error).__name__}: {error}") from error
                await asyncio.sleep(retry_delay(attempt, None))
                attempt += 1
                continue
            if response.status_code in RETRIED_STATUSES and attempt < self.config.max_retries:
                delay = retry_delay(attempt, response)
                if delay <= self.config.max_retry_wait_s:
                    await asyncio.sleep(delay)
                    attempt += 1
                    continue
            if response.status_code >= 400:
                raise error_from(response)
            return response

    async def events(self, model: type[M], url: str, body: BaseModel) -> AsyncIterator[M]:
        """A streamed answer's server-sent events (``data: {...}`` lines, to ``data: [DONE]``), each parsed as
        ``model``; an error answer raises its class before the first event. Not retried: a retry could repeat
        what was already shown."""
        headers = {"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex}
        content = body.model_dump_json(exclude_unset=True)
        async with self._http.stream("POST", url, content=content, headers=headers) as response:
            if response.status_code >= 400:
                await response.aread()
                raise error_from(response)
            async for line in response.aiter_lines():
                if not line.startswith("data: "):
                    continue
                data = line[len("data: ") :]
                if data == "[DONE]":
                    return
                if data.startswith('{"error"'):
                    raise ConnectionFailed(f"the stream ended with an error: {data}")
                yield model.model_validate_json(data)

    async def download(
        self, url: str, target: str | Path | IO[bytes], *, params: Mapping[str, Any] | None = None
    ) -> Download:
        """A file answer streamed to ``target`` (a path, or a binary file)."""
        query = {key: value for key, value in (params or {}).items() if value is not None}
        async with self._http.stream("GET", url, params=query) as response:
            if response.status_code >= 400:
                await response.aread()
                raise error_from(response)
            size = 0
            if isinstance(target, (str, Path)):
                with open(target, "wb") as file:
                    async for chunk in response.aiter_bytes():
                        file.write(chunk)
                        size += len(chunk)
                return Download(str(target), size)
            async for chunk in response.aiter_bytes():
                target.write(chunk)
                size += len(chunk)
            return Download(getattr(target, "name", "<stream>"), size)

    async def get(self, model: type[M], url: str, params: Mapping[str, Any] | None = None) -> M:
        return parse(model, await self.request("GET", url, params=params))

    async def page(self, model: type[M], url: str, limit: int, after: str | None) -> Page[M]:
        """One page of a list: its items and the cursor of the next (None on the last)."""
        query: dict[str, Any] = {"limit": limit} | ({"after": after} if after else {})
        return parse(Page[model], await self.request("GET", url, params=query))  # type: ignore[valid-type]

    async def pages(self, model: type[M], url: str, params: Mapping[str, Any] | None = None) -> AsyncIterator[M]:
        """Every item of a paginated list, page after page (``limit`` items a request)."""
        query = dict(params or {})
        while True:
            page = parse(Page[model], await self.request("GET", url, params=query))  # type: ignore[valid-type]
            for item in page.items:
                yield item
            if page.next is None:
                return
            query["after"] = page.next

    async def watch(
        self,
        kind: str,
        fetch: Callable[[], Any],
        *,
        interval_s: float = 1.0,
        timeout_s: float | None = None,
    ) -> AsyncIterator[Any]:
        """The resource each time it changes, until it leaves its pending states."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        last = None
        while True:
            current = await fetch()
            if current != last:
                yield current
                last = current
            if current.status not in PENDING[kind]:
                return
            if deadline is not None and time.monotonic() > deadline:
                raise WaitTimeout(f"{kind} {getattr(current, 'id', '')} still {current.status}", current)
            await asyncio.sleep(interval_s)

    async def wait(
        self,
        kind: str,
        fetch: Callable[[], Any],
        *,
        interval_s: float = 1.0,
        timeout_s: float | None = None,
        on_progress: Callable[[Any], None] | None = None,
        raise_on_failure: bool = True,
    ) -> Any:
        final = None
        async for state in self.watch(kind, fetch, interval_s=interval_s, timeout_s=timeout_s):
            if on_progress is not None:
                on_progress(state)
            final = state
        if raise_on_failure and final is not None and final.status in FAILED:
            reason = getattr(final, "error", None) or final.status
            raise ResourceFailed(f"{kind} {getattr(final, 'id', '')} {final.status}: {reason}", final)
        return final


class _Resource:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client


class AsyncOrgs(_Resource):
    async def create(self, name: str) -> orgs.OrgCreated:
        """The operator key only: a new org and its admin key (shown once)."""
        body = orgs.OrgCreate(name=name)
        return parse(orgs.OrgCreated, await self._client.request("POST", "/v1/orgs", json=body))

    def list(self, *, limit: int = 100) -> AsyncIterator[orgs.Org]:
        return self._client.pages(orgs.Org, "/v1/orgs", {"limit": limit})

    async def me(self) -> orgs.Org:
        return await self._client.get(orgs.Org, "/v1/orgs/me")


class AsyncKeys(_Resource):
    async def create(
        self, name: str, *, scope: str = "admin", deployment_id: str | None = None, expires_in_s: int | None = None
    ) -> orgs.KeyCreated:
        body = orgs.KeyCreate.model_validate(
            {"name": name, "scope": scope, "deployment_id": deployment_id, "expires_in_s": expires_in_s}
        )
        return parse(orgs.KeyCreated, await self._client.request("POST", "/v1/keys", json=body))

    def list(self, *, limit: int = 100) -> AsyncIterator[orgs.Key]:
        return self._client.pages(orgs.Key, "/v1/keys", {"limit": limit})

    async def get(self, key_id: str) -> orgs.Key:
        return await self._client.get(orgs.Key, url_path("/v1/keys/{}", key_id))

    async def revoke(self, key_id: str) -> orgs.Key:
        return parse(orgs.Key, await self._client.request("DELETE", url_path("/v1/keys/{}", key_id)))


class AsyncDatasets(_Resource):
    async def upload(
        self,
        file: str | Path | IO[bytes],
        *,
        name: str | None = None,
        filename: str | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> datasets.Dataset:
        """Streams the file (never read whole into memory); ``on_progress(sent, total)`` as it goes."""
        opened = open(file, "rb") if isinstance(file, (str, Path)) else None  # noqa: SIM115  (closed below)
        source = opened or file
        assert not isinstance(source, (str, Path))
        reader = ProgressReader(source, on_progress)
        upload_name = filename or Path(str(getattr(source, "name", "upload.csv"))).name

        def build() -> dict[str, Any]:
            reader.rewind()
            return {"files": {"file": (upload_name, reader)}, "data": {"name": name} if name else {}}

        try:
            answer = await self._client.request("POST", "/v1/datasets", build=build)
        finally:
            if opened is not None:
                opened.close()
        return parse(datasets.Dataset, answer)

    def list(self, *, limit: int = 100) -> AsyncIterator[datasets.Dataset]:
        return self._client.pages(datasets.Dataset, "/v1/datasets", {"limit": limit})

    async def page(self, *, limit: int = 25, after: str | None = None) -> Page[datasets.Dataset]:
        """One page: ``.items`` and ``.next``, the cursor to pass as ``after`` for the next page."""
        return await self._client.page(datasets.Dataset, "/v1/datasets", limit, after)

    async def get(self, dataset_id: str) -> datasets.Dataset:
        return await self._client.get(datasets.Dataset, url_path("/v1/datasets/{}", dataset_id))

    async def delete(self, dataset_id: str) -> None:
        await self._client.request("DELETE", url_path("/v1/datasets/{}", dataset_id))

    async def set_columns(self, dataset_id: str, columns: Mapping[str, str]) -> datasets.Dataset:
        """Confirm or correct the inferred mapping: column name -> text, image, json, label, number, ignore."""
        body = datasets.ColumnMapping.model_validate({"columns": dict(columns)})
        url = url_path("/v1/datasets/{}/columns", dataset_id)
        return parse(datasets.Dataset, await self._client.request("PUT", url, json=body))

    async def retry_images(self, dataset_id: str) -> datasets.Dataset:
        url = url_path("/v1/datasets/{}/images/retry", dataset_id)
        return parse(datasets.Dataset, await self._client.request("POST", url))

    async def rows_page(
        self,
        dataset_id: str,
        *,
        limit: int = 50,
        after: str | None = None,
        start: int | None = None,
        status: str | None = None,
    ) -> datasets.RowsPage:
        params = {"limit": limit, "after": after, "start": start, "status": status}
        return await self._client.get(datasets.RowsPage, url_path("/v1/datasets/{}/rows", dataset_id), params)

    async def rows(
        self, dataset_id: str, *, status: str | None = None, start: int | None = None, limit: int = 500
    ) -> AsyncIterator[datasets.Row]:
        """Every row (of a status), from row index ``start``."""
        after: str | None = None
        while True:
            page = await self.rows_page(
                dataset_id, limit=limit, after=after, start=start if after is None else None, status=status
            )
            for row in page.items:
                yield row
            if page.next is None:
                return
            after = page.next

    async def add_rows(self, dataset_id: str, rows: Sequence[dict[str, Any]]) -> datasets.RowsPage:
        """Rows as column -> value; the answer holds the rows made."""
        body = datasets.RowsCreate.model_validate({"rows": [{"values": values} for values in rows]})
        answer = await self._client.request("POST", url_path("/v1/datasets/{}/rows", dataset_id), json=body)
        return parse(datasets.RowsPage, answer)

    async def get_row(self, dataset_id: str, row_id: int) -> datasets.Row:
        return await self._client.get(datasets.Row, url_path("/v1/datasets/{}/rows/{}", dataset_id, row_id))

    async def update_row(self, dataset_id: str, row_id: int, values: dict[str, Any]) -> datasets.Row:
        body = datasets.RowValues.model_validate({"values": values})
        url = url_path("/v1/datasets/{}/rows/{}", dataset_id, row_id)
        return parse(datasets.Row, await self._client.request("PATCH", url, json=body))

    async def delete_row(self, dataset_id: str, row_id: int) -> None:
        await self._client.request("DELETE", url_path("/v1/datasets/{}/rows/{}", dataset_id, row_id))

    async def thumbnail(self, dataset_id: str, row_id: int, target: str | Path | IO[bytes]) -> Download:
        return await self._client.download(url_path("/v1/datasets/{}/rows/{}/thumbnail", dataset_id, row_id), target)

    def watch(
        self, dataset_id: str, *, interval_s: float = 0.5, timeout_s: float | None = None
    ) -> AsyncIterator[datasets.Dataset]:
        return self._client.watch("dataset", lambda: self.get(dataset_id), interval_s=interval_s, timeout_s=timeout_s)

    async def wait(
        self,
        dataset_id: str,
        *,
        interval_s: float = 0.5,
        timeout_s: float | None = 600,
        on_progress: Callable[[datasets.Dataset], None] | None = None,
    ) -> datasets.Dataset:
        """Until ingestion ends; ``ResourceFailed`` if it failed."""
        result: datasets.Dataset = await self._client.wait(
            "dataset", lambda: self.get(dataset_id), interval_s=interval_s, timeout_s=timeout_s, on_progress=on_progress
        )
        return result


class AsyncSnapshots(_Resource):
    async def create(self, request: snapshots.SnapshotCreate | None = None, /, **fields: Any) -> snapshots.Snapshot:
        body = model_of(snapshots.SnapshotCreate, request, fields)
        return parse(snapshots.Snapshot, await self._client.request("POST", "/v1/snapshots", json=body))

    def list(self, *, limit: int = 100) -> AsyncIterator[snapshots.Snapshot]:
        return self._client.pages(snapshots.Snapshot, "/v1/snapshots", {"limit": limit})

    async def page(self, *, limit: int = 25, after: str | None = None) -> Page[snapshots.Snapshot]:
        """One page: ``.items`` and ``.next``, the cursor to pass as ``after`` for the next page."""
        return await self._client.page(snapshots.Snapshot, "/v1/snapshots", limit, after)

    async def get(self, snapshot_id: str) -> snapshots.Snapshot:
        return await self._client.get(snapshots.Snapshot, url_path("/v1/snapshots/{}", snapshot_id))

    async def delete(self, snapshot_id: str) -> None:
        await self._client.request("DELETE", url_path("/v1/snapshots/{}", snapshot_id))

    def invalid_rows(self, snapshot_id: str, *, limit: int = 500) -> AsyncIterator[snapshots.InvalidRow]:
        url = url_path("/v1/snapshots/{}/invalid-rows", snapshot_id)
        return self._client.pages(snapshots.InvalidRow, url, {"limit": limit})

    async def split(self, snapshot_id: str, *, test_pct: float, seed: int | None = None) -> snapshots.Split:
        body = snapshots.SplitCreate.model_validate(
            {"test_pct": test_pct, **({"seed": seed} if seed is not None else {})}
        )
        url = url_path("/v1/snapshots/{}/splits", snapshot_id)
        return parse(snapshots.Split, await self._client.request("POST", url, json=body))

    async def get_split(self, snapshot_id: str, split_id: str) -> snapshots.Split:
        return await self._client.get(snapshots.Split, url_path("/v1/snapshots/{}/splits/{}", snapshot_id, split_id))

    async def compatibility(self, snapshot_id: str, test_snapshot_id: str) -> snapshots.Compatibility:
        url = url_path("/v1/snapshots/{}/compatibility", snapshot_id)
        return await self._client.get(snapshots.Compatibility, url, {"test_snapshot_id": test_snapshot_id})

    async def manifest(self, snapshot_id: str) -> snapshots.SnapshotManifest:
        return await self._client.get(snapshots.SnapshotManifest, url_path("/v1/snapshots/{}/manifest", snapshot_id))

    async def download(self, snapshot_id: str, target: str | Path | IO[bytes]) -> Download:
        """The rows as Parquet."""
        return await self._client.download(url_path("/v1/snapshots/{}/data", snapshot_id), target)

    def watch(
        self, snapshot_id: str, *, interval_s: float = 0.5, timeout_s: float | None = None
    ) -> AsyncIterator[snapshots.Snapshot]:
        return self._client.watch("snapshot", lambda: self.get(snapshot_id), interval_s=interval_s, timeout_s=timeout_s)

    async def wait(
        self,
        snapshot_id: str,
        *,
        interval_s: float = 0.5,
        timeout_s: float | None = 600,
        on_progress: Callable[[snapshots.Snapshot], None] | None = None,
    ) -> snapshots.Snapshot:
        result: snapshots.Snapshot = await self._client.wait(
            "snapshot",
            lambda: self.get(snapshot_id),
            interval_s=interval_s,
            timeout_s=timeout_s,
            on_progress=on_progress,
        )
        return result


class AsyncBaseModels(_Resource):
    def list(self) -> AsyncIterator[models.BaseModelInfo]:
        return self._client.pages(models.BaseModelInfo, "/v1/base-models")

    async def get(self, base_model_id: str) -> models.BaseModelInfo:
        return await self._client.get(models.BaseModelInfo, url_path("/v1/base-models/{}", base_model_id))

    async def register(self, request: models.BaseModelRegister | None = None, /, **fields: Any) -> models.BaseModelInfo:
        body = model_of(models.BaseModelRegister, request, fields)
        return parse(models.BaseModelInfo, await self._client.request("POST", "/v1/base-models", json=body))


class AsyncModels(_Resource):
    async def create(self, request: models.ModelCreate | None = None, /, **fields: Any) -> models.Model:
        """Start a training run: ``name``, ``base_model``, ``method``, ``train_snapshot_id``, a test source
        (``test_snapshot_id`` or ``test_split_pct``), ``options``..."""
        body = model_of(models.ModelCreate, request, fields)
        return parse(models.Model, await self._client.request("POST", "/v1/models", json=body))

    def list(self, *, limit: int = 100) -> AsyncIterator[models.Model]:
        return self._client.pages(models.Model, "/v1/models", {"limit": limit})

    async def page(self, *, limit: int = 25, after: str | None = None) -> Page[models.Model]:
        """One page: ``.items`` and ``.next``, the cursor to pass as ``after`` for the next page."""
        return await self._client.page(models.Model, "/v1/models", limit, after)

    async def get(self, model_id: str) -> models.Model:
        return await self._client.get(models.Model, url_path("/v1/models/{}", model_id))

    async def delete(self, model_id: str) -> None:
        await self._client.request("DELETE", url_path("/v1/models/{}", model_id))

    async def cancel(self, model_id: str) -> models.Model:
        return parse(models.Model, await self._client.request("POST", url_path("/v1/models/{}/cancel", model_id)))

    def events(self, model_id: str, *, limit: int = 500) -> AsyncIterator[models.ModelEvent]:
        return self._client.pages(models.ModelEvent, url_path("/v1/models/{}/events", model_id), {"limit": limit})

    async def metrics(
        self,
        model_id: str,
        *,
        threshold: float | None = None,
        head: str | None = None,
        threshold_class: str | None = None,
    ) -> metrics.ModelMetrics:
        """The evaluation; at ``threshold`` every figure is recomputed at that cut-off (on every class, or on
        ``threshold_class`` of ``head`` only, as a deployment's operating point)."""
        url = url_path("/v1/models/{}/metrics", model_id)
        params = {"threshold": threshold, "head": head, "threshold_class": threshold_class}
        return await self._client.get(metrics.ModelMetrics, url, params)

    async def card(self, model_id: str) -> str:
        return (await self._client.request("GET", url_path("/v1/models/{}/card", model_id))).text

    async def export(self, model_id: str, target: str | Path | IO[bytes], *, format: str = "merged") -> Download:
        url = url_path("/v1/models/{}/export", model_id)
        return await self._client.download(url, target, params={"format": format})

    async def playground(
        self, model_id: str, input: inference.PredictInput | dict[str, Any]
    ) -> tuple[inference.Output, int | None]:
        """One free query: the output, and how many free queries are left."""
        body = inference.PlaygroundRequest.model_validate({"input": input})
        answer = await self._client.request("POST", url_path("/v1/models/{}/playground", model_id), json=body)
        remaining = answer.headers.get("x-playground-remaining")
        return _OUTPUT.validate_json(answer.content), int(remaining) if remaining is not None else None

    @overload
    async def chat(
        self,
        model_id: str,
        request: openai.ChatCompletionRequest | None = None,
        /,
        *,
        stream: Literal[False] = False,
        **fields: Any,
    ) -> tuple[openai.ChatCompletion, int | None]: ...

    @overload
    async def chat(
        self,
        model_id: str,
        request: openai.ChatCompletionRequest | None = None,
        /,
        *,
        stream: Literal[True],
        **fields: Any,
    ) -> AsyncIterator[openai.ChatCompletionChunk]: ...

    async def chat(
        self,
        model_id: str,
        request: openai.ChatCompletionRequest | None = None,
        /,
        *,
        stream: bool = False,
        **fields: Any,
    ) -> tuple[openai.ChatCompletion, int | None] | AsyncIterator[openai.ChatCompletionChunk]:
        """An llm model's reply to ``messages`` before it is deployed (one free query), and the queries left;
        with ``stream=True``, its pieces as they are generated (``ChatCompletionChunk``, the last with the
        usage), as OpenAI's client streams them."""
        body = model_of(openai.ChatCompletionRequest, request, fields | ({"stream": True} if stream else {}))
        url = url_path("/v1/models/{}/playground/chat/completions", model_id)
        if body.stream:
            return self._client.events(openai.ChatCompletionChunk, url, body)
        answer = await self._client.request("POST", url, json=body)
        remaining = answer.headers.get("x-playground-remaining")
        return parse(openai.ChatCompletion, answer), int(remaining) if remaining is not None else None

    def watch(
        self, model_id: str, *, interval_s: float = 1.0, timeout_s: float | None = None
    ) -> AsyncIterator[models.Model]:
        """The run each time it changes: status, then progress (step, epoch, loss, metric, ETA)."""
        return self._client.watch("model", lambda: self.get(model_id), interval_s=interval_s, timeout_s=timeout_s)

    async def wait(
        self,
        model_id: str,
        *,
        interval_s: float = 1.0,
        timeout_s: float | None = None,
        on_progress: Callable[[models.Model], None] | None = None,
    ) -> models.Model:
        """Until the run ends; ``ResourceFailed`` if it failed or was cancelled."""
        result: models.Model = await self._client.wait(
            "model", lambda: self.get(model_id), interval_s=interval_s, timeout_s=timeout_s, on_progress=on_progress
        )
        return result


class AsyncDeployments(_Resource):
    async def create(self, request: inference.DeploymentCreate | None = None, /, **fields: Any) -> inference.Deployment:
        body = model_of(inference.DeploymentCreate, request, fields)
        return parse(inference.Deployment, await self._client.request("POST", "/v1/deployments", json=body))

    def list(self, *, limit: int = 100) -> AsyncIterator[inference.Deployment]:
        return self._client.pages(inference.Deployment, "/v1/deployments", {"limit": limit})

    async def page(self, *, limit: int = 25, after: str | None = None) -> Page[inference.Deployment]:
        """One page: ``.items`` and ``.next``, the cursor to pass as ``after`` for the next page."""
        return await self._client.page(inference.Deployment, "/v1/deployments", limit, after)

    async def get(self, deployment_id: str) -> inference.Deployment:
        return await self._client.get(inference.Deployment, url_path("/v1/deployments/{}", deployment_id))

    async def update(self, deployment_id: str, **fields: Any) -> inference.Deployment:
        """Scale: ``min_replicas``, ``max_replicas``..."""
        body = inference.DeploymentUpdate.model_validate(fields)
        url = url_path("/v1/deployments/{}", deployment_id)
        return parse(inference.Deployment, await self._client.request("PATCH", url, json=body))

    async def delete(self, deployment_id: str) -> inference.Deployment:
        url = url_path("/v1/deployments/{}", deployment_id)
        return parse(inference.Deployment, await self._client.request("DELETE", url))

    async def predict(self, deployment_id: str, inputs: Sequence[inference.PredictInput]) -> inference.PredictResponse:
        body = inference.PredictRequest.model_validate({"inputs": list(inputs)})
        url = url_path("/v1/deployments/{}/predict", deployment_id)
        return parse(inference.PredictResponse, await self._client.request("POST", url, json=body))

    @overload
    async def chat(
        self,
        deployment_id: str,
        request: openai.ChatCompletionRequest | None = None,
        /,
        *,
        stream: Literal[False] = False,
        **fields: Any,
    ) -> openai.ChatCompletion: ...

    @overload
    async def chat(
        self,
        deployment_id: str,
        request: openai.ChatCompletionRequest | None = None,
        /,
        *,
        stream: Literal[True],
        **fields: Any,
    ) -> AsyncIterator[openai.ChatCompletionChunk]: ...

    async def chat(
        self,
        deployment_id: str,
        request: openai.ChatCompletionRequest | None = None,
        /,
        *,
        stream: bool = False,
        **fields: Any,
    ) -> openai.ChatCompletion | AsyncIterator[openai.ChatCompletionChunk]:
        """OpenAI's chat completions from an llm deployment: the whole reply, or with ``stream=True`` its
        pieces as they are generated."""
        body = model_of(openai.ChatCompletionRequest, request, fields | ({"stream": True} if stream else {}))
        url = url_path("/v1/deployments/{}/chat/completions", deployment_id)
        if body.stream:
            return self._client.events(openai.ChatCompletionChunk, url, body)
        return parse(openai.ChatCompletion, await self._client.request("POST", url, json=body))

    async def create_task(
        self, deployment_id: str, inputs: Sequence[inference.PredictInput], callback_url: str | None = None
    ) -> inference.Task:
        body = inference.TaskCreate.model_validate({"inputs": list(inputs), "callback_url": callback_url})
        url = url_path("/v1/deployments/{}/tasks", deployment_id)
        return parse(inference.Task, await self._client.request("POST", url, json=body))

    def watch(
        self, deployment_id: str, *, interval_s: float = 1.0, timeout_s: float | None = None
    ) -> AsyncIterator[inference.Deployment]:
        return self._client.watch(
            "deployment", lambda: self.get(deployment_id), interval_s=interval_s, timeout_s=timeout_s
        )

    async def wait(
        self,
        deployment_id: str,
        *,
        interval_s: float = 1.0,
        timeout_s: float | None = 600,
        on_progress: Callable[[inference.Deployment], None] | None = None,
    ) -> inference.Deployment:
        """Until it is ready (or failed: ``ResourceFailed``)."""
        result: inference.Deployment = await self._client.wait(
            "deployment",
            lambda: self.get(deployment_id),
            interval_s=interval_s,
            timeout_s=timeout_s,
            on_progress=on_progress,
        )
        return result


class AsyncTasks(_Resource):
    async def get(self, task_id: str) -> inference.Task:
        return await self._client.get(inference.Task, url_path("/v1/tasks/{}", task_id))

    async def wait(self, task_id: str, *, interval_s: float = 0.5, timeout_s: float | None = 600) -> inference.Task:
        result: inference.Task = await self._client.wait(
            "task", lambda: self.get(task_id), interval_s=interval_s, timeout_s=timeout_s
        )
        return result


class AsyncBatchPredictions(_Resource):
    async def create(
        self, request: inference.BatchPredictionCreate | None = None, /, **fields: Any
    ) -> inference.BatchPrediction:
        body = model_of(inference.BatchPredictionCreate, request, fields)
        answer = await self._client.request("POST", "/v1/batch-predictions", json=body)
        return parse(inference.BatchPrediction, answer)

    def list(self, *, limit: int = 100) -> AsyncIterator[inference.BatchPrediction]:
        return self._client.pages(inference.BatchPrediction, "/v1/batch-predictions", {"limit": limit})

    async def get(self, batch_id: str) -> inference.BatchPrediction:
        return await self._client.get(inference.BatchPrediction, url_path("/v1/batch-predictions/{}", batch_id))

    async def results(self, batch_id: str, target: str | Path | IO[bytes]) -> Download:
        return await self._client.download(url_path("/v1/batch-predictions/{}/results", batch_id), target)

    def watch(
        self, batch_id: str, *, interval_s: float = 1.0, timeout_s: float | None = None
    ) -> AsyncIterator[inference.BatchPrediction]:
        return self._client.watch(
            "batch_prediction", lambda: self.get(batch_id), interval_s=interval_s, timeout_s=timeout_s
        )

    async def wait(
        self,
        batch_id: str,
        *,
        interval_s: float = 1.0,
        timeout_s: float | None = None,
        on_progress: Callable[[inference.BatchPrediction], None] | None = None,
    ) -> inference.BatchPrediction:
        result: inference.BatchPrediction = await self._client.wait(
            "batch_prediction",
            lambda: self.get(batch_id),
            interval_s=interval_s,
            timeout_s=timeout_s,
            on_progress=on_progress,
        )
        return result


class AsyncUsage(_Resource):
    async def get(self, *, since: str | None = None, until: str | None = None) -> inference.Usage:
        """Per day, deployment and key; ``since`` / ``until`` are dates (YYYY-MM-DD)."""
        return await self._client.get(inference.Usage, "/v1/usage", {"from": since, "to": until})
