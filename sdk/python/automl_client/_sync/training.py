# Generated from automl_client/_async by `python -m automl_client._generate`: do not edit.
"""Base models and models: training runs, their metrics, the playground (async; ``_sync`` is generated from here)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, Literal, overload

from pydantic import TypeAdapter

from automl_client._base import (
    Download,
    Page,
    model_of,
    parse,
    url_path,
)
from automl_client._sync.resource import _Resource
from automl_proto import inference, metrics, models, openai

_OUTPUT: TypeAdapter[inference.Output] = TypeAdapter(inference.Output)


class BaseModels(_Resource):
    def list(self) -> Iterator[models.BaseModelInfo]:
        return self._client.pages(models.BaseModelInfo, "/v1/base-models")

    def get(self, base_model_id: str) -> models.BaseModelInfo:
        return self._client.get(models.BaseModelInfo, url_path("/v1/base-models/{}", base_model_id))

    def register(self, request: models.BaseModelRegister | None = None, /, **fields: Any) -> models.BaseModelInfo:
        body = model_of(models.BaseModelRegister, request, fields)
        return parse(models.BaseModelInfo, self._client.request("POST", "/v1/base-models", json=body))


class Models(_Resource):
    def create(self, request: models.ModelCreate | None = None, /, **fields: Any) -> models.Model:
        """Start a training run: ``name``, ``base_model``, ``method``, ``train_snapshot_id``, a test source
        (``test_snapshot_id`` or ``test_split_pct``), ``options``..."""
        body = model_of(models.ModelCreate, request, fields)
        return parse(models.Model, self._client.request("POST", "/v1/models", json=body))

    def list(self, *, limit: int = 100) -> Iterator[models.Model]:
        return self._client.pages(models.Model, "/v1/models", {"limit": limit})

    def page(self, *, limit: int = 25, after: str | None = None) -> Page[models.Model]:
        """One page: ``.items`` and ``.next``, the cursor to pass as ``after`` for the next page."""
        return self._client.page(models.Model, "/v1/models", limit, after)

    def get(self, model_id: str) -> models.Model:
        return self._client.get(models.Model, url_path("/v1/models/{}", model_id))

    def delete(self, model_id: str) -> None:
        self._client.request("DELETE", url_path("/v1/models/{}", model_id))

    def cancel(self, model_id: str) -> models.Model:
        return parse(models.Model, self._client.request("POST", url_path("/v1/models/{}/cancel", model_id)))

    def events(self, model_id: str, *, limit: int = 500) -> Iterator[models.ModelEvent]:
        return self._client.pages(models.ModelEvent, url_path("/v1/models/{}/events", model_id), {"limit": limit})

    def metrics(
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
        return self._client.get(metrics.ModelMetrics, url, params)

    def card(self, model_id: str) -> str:
        return (self._client.request("GET", url_path("/v1/models/{}/card", model_id))).text

    def export(self, model_id: str, target: str | Path | IO[bytes], *, format: str = "merged") -> Download:
        url = url_path("/v1/models/{}/export", model_id)
        return self._client.download(url, target, params={"format": format})

    def playground(
        self, model_id: str, input: inference.PredictInput | dict[str, Any]
    ) -> tuple[inference.Output, int | None]:
        """One free query: the output, and how many free queries are left."""
        body = inference.PlaygroundRequest.model_validate({"input": input})
        answer = self._client.request("POST", url_path("/v1/models/{}/playground", model_id), json=body)
        remaining = answer.headers.get("x-playground-remaining")
        return _OUTPUT.validate_json(answer.content), int(remaining) if remaining is not None else None

    @overload
    def chat(
        self,
        model_id: str,
        request: openai.ChatCompletionRequest | None = None,
        /,
        *,
        stream: Literal[False] = False,
        **fields: Any,
    ) -> tuple[openai.ChatCompletion, int | None]: ...

    @overload
    def chat(
        self,
        model_id: str,
        request: openai.ChatCompletionRequest | None = None,
        /,
        *,
        stream: Literal[True],
        **fields: Any,
    ) -> Iterator[openai.ChatCompletionChunk]: ...

    def chat(
        self,
        model_id: str,
        request: openai.ChatCompletionRequest | None = None,
        /,
        *,
        stream: bool = False,
        **fields: Any,
    ) -> tuple[openai.ChatCompletion, int | None] | Iterator[openai.ChatCompletionChunk]:
        """An llm model's reply to ``messages`` before it is deployed (one free query), and the queries left;
        with ``stream=True``, its pieces as they are generated (``ChatCompletionChunk``, the last with the
        usage), as OpenAI's client streams them."""
        body = model_of(openai.ChatCompletionRequest, request, fields | ({"stream": True} if stream else {}))
        url = url_path("/v1/models/{}/playground/chat/completions", model_id)
        if body.stream:
            return self._client.events(openai.ChatCompletionChunk, url, body)
        answer = self._client.request("POST", url, json=body)
        remaining = answer.headers.get("x-playground-remaining")
        return parse(openai.ChatCompletion, answer), int(remaining) if remaining is not None else None

    def watch(
        self, model_id: str, *, interval_s: float = 1.0, timeout_s: float | None = None
    ) -> Iterator[models.Model]:
        """The run each time it changes: status, then progress (step, epoch, loss, metric, ETA)."""
        return self._client.watch("model", lambda: self.get(model_id), interval_s=interval_s, timeout_s=timeout_s)

    def wait(
        self,
        model_id: str,
        *,
        interval_s: float = 1.0,
        timeout_s: float | None = None,
        on_progress: Callable[[models.Model], None] | None = None,
    ) -> models.Model:
        """Until the run ends; ``ResourceFailed`` if it failed or was cancelled."""
        result: models.Model = self._client.wait(
            "model", lambda: self.get(model_id), interval_s=interval_s, timeout_s=timeout_s, on_progress=on_progress
        )
        return result
