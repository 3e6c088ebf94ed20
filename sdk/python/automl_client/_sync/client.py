# Generated from automl_client/_async by `python -m automl_client._generate`: do not edit.
"""The client (async): the transport every call goes through (retries, idempotency keys, errors, waits) and
one attribute per resource (``_async/data.py``, ``training.py``, ``serving.py``). ``automl_client/_sync`` is
generated from this folder (``python -m automl_client._generate``): edit here, then regenerate."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TypeVar

import httpx
from pydantic import BaseModel

from automl_client._base import (
    FAILED,
    PENDING,
    RETRIED_STATUSES,
    Download,
    Page,
    parse,
    retry_delay,
)
from automl_client._sync.data import Datasets, Keys, Orgs, Snapshots
from automl_client._sync.serving import BatchPredictions, Deployments, Tasks, Usage
from automl_client._sync.training import BaseModels, Models
from automl_client.config import Config, resolve
from automl_client.errors import ConnectionFailed, ResourceFailed, WaitTimeout, error_from

M = TypeVar("M", bound=BaseModel)
USER_AGENT = "automl-client/0.1.0"


class Client:
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
        transport: httpx.BaseTransport | None = None,
        config: Config | None = None,
    ) -> None:
        self.config = config or resolve(url, api_key, profile=profile, timeout_s=timeout_s, max_retries=max_retries)
        self._http = httpx.Client(
            base_url=self.config.url,
            headers={"Authorization": f"Bearer {self.config.api_key}", "User-Agent": USER_AGENT},
            timeout=self.config.timeout_s,
            transport=transport,
        )
        self.orgs = Orgs(self)
        self.keys = Keys(self)
        self.datasets = Datasets(self)
        self.snapshots = Snapshots(self)
        self.base_models = BaseModels(self)
        self.models = Models(self)
        self.deployments = Deployments(self)
        self.tasks = Tasks(self)
        self.batch_predictions = BatchPredictions(self)
        self.usage = Usage(self)

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- transport ------------------------------------------------------------------------------------

    def request(
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
                response = self._http.request(method, url, params=query, headers=sent_headers, **extra)
            except httpx.TransportError as error:
                if attempt >= self.config.max_retries or not isinstance(error, httpx.ConnectError):
                    raise ConnectionFailed(f"{method} {url}: {type(error).__name__}: {error}") from error
                time.sleep(retry_delay(attempt, None))
                attempt += 1
                continue
            if response.status_code in RETRIED_STATUSES and attempt < self.config.max_retries:
                delay = retry_delay(attempt, response)
                if delay <= self.config.max_retry_wait_s:
                    time.sleep(delay)
                    attempt += 1
                    continue
            if response.status_code >= 400:
                raise error_from(response)
            return response

    def events(self, model: type[M], url: str, body: BaseModel) -> Iterator[M]:
        """A streamed answer's server-sent events (``data: {...}`` lines, to ``data: [DONE]``), each parsed as
        ``model``; an error answer raises its class before the first event. Not retried: a retry could repeat
        what was already shown."""
        headers = {"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex}
        content = body.model_dump_json(exclude_unset=True)
        with self._http.stream("POST", url, content=content, headers=headers) as response:
            if response.status_code >= 400:
                response.read()
                raise error_from(response)
            for line in response.iter_lines():
                if not line.startswith("data: "):
                    continue
                data = line[len("data: ") :]
                if data == "[DONE]":
                    return
                if data.startswith('{"error"'):
                    raise ConnectionFailed(f"the stream ended with an error: {data}")
                yield model.model_validate_json(data)

    def download(
        self, url: str, target: str | Path | IO[bytes], *, params: Mapping[str, Any] | None = None
    ) -> Download:
        """A file answer streamed to ``target`` (a path, or a binary file)."""
        query = {key: value for key, value in (params or {}).items() if value is not None}
        with self._http.stream("GET", url, params=query) as response:
            if response.status_code >= 400:
                response.read()
                raise error_from(response)
            size = 0
            if isinstance(target, (str, Path)):
                with open(target, "wb") as file:
                    for chunk in response.iter_bytes():
                        file.write(chunk)
                        size += len(chunk)
                return Download(str(target), size)
            for chunk in response.iter_bytes():
                target.write(chunk)
                size += len(chunk)
            return Download(getattr(target, "name", "<stream>"), size)

    def get(self, model: type[M], url: str, params: Mapping[str, Any] | None = None) -> M:
        return parse(model, self.request("GET", url, params=params))

    def page(self, model: type[M], url: str, limit: int, after: str | None) -> Page[M]:
        """One page of a list: its items and the cursor of the next (None on the last)."""
        query: dict[str, Any] = {"limit": limit} | ({"after": after} if after else {})
        return parse(Page[model], self.request("GET", url, params=query))  # type: ignore[valid-type]

    def pages(self, model: type[M], url: str, params: Mapping[str, Any] | None = None) -> Iterator[M]:
        """Every item of a paginated list, page after page (``limit`` items a request)."""
        query = dict(params or {})
        while True:
            page = parse(Page[model], self.request("GET", url, params=query))  # type: ignore[valid-type]
            yield from page.items
            if page.next is None:
                return
            query["after"] = page.next

    def watch(
        self,
        kind: str,
        fetch: Callable[[], Any],
        *,
        interval_s: float = 1.0,
        timeout_s: float | None = None,
    ) -> Iterator[Any]:
        """The resource each time it changes, until it leaves its pending states."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        last = None
        while True:
            current = fetch()
            if current != last:
                yield current
                last = current
            if current.status not in PENDING[kind]:
                return
            if deadline is not None and time.monotonic() > deadline:
                raise WaitTimeout(f"{kind} {getattr(current, 'id', '')} still {current.status}", current)
            time.sleep(interval_s)

    def wait(
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
        for state in self.watch(kind, fetch, interval_s=interval_s, timeout_s=timeout_s):
            if on_progress is not None:
                on_progress(state)
            final = state
        if raise_on_failure and final is not None and final.status in FAILED:
            reason = getattr(final, "error", None) or final.status
            raise ResourceFailed(f"{kind} {getattr(final, 'id', '')} {final.status}: {reason}", final)
        return final
