# Generated from automl_client/_async by `python -m automl_client._generate`: do not edit.
"""Deployments, async tasks, batch predictions and usage (async; ``_sync`` is generated from here)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Literal, overload

from automl_client._base import (
    Download,
    Page,
    model_of,
    parse,
    url_path,
)
from automl_client._sync.resource import _Resource
from automl_proto import inference, openai


class Deployments(_Resource):
    def create(self, request: inference.DeploymentCreate | None = None, /, **fields: Any) -> inference.Deployment:
        body = model_of(inference.DeploymentCreate, request, fields)
        return parse(inference.Deployment, self._client.request("POST", "/v1/deployments", json=body))

    def list(self, *, limit: int = 100) -> Iterator[inference.Deployment]:
        return self._client.pages(inference.Deployment, "/v1/deployments", {"limit": limit})

    def page(self, *, limit: int = 25, after: str | None = None) -> Page[inference.Deployment]:
        """One page: ``.items`` and ``.next``, the cursor to pass as ``after`` for the next page."""
        return self._client.page(inference.Deployment, "/v1/deployments", limit, after)

    def get(self, deployment_id: str) -> inference.Deployment:
        return self._client.get(inference.Deployment, url_path("/v1/deployments/{}", deployment_id))

    def update(self, deployment_id: str, **fields: Any) -> inference.Deployment:
        """Scale: ``min_replicas``, ``max_replicas``..."""
        body = inference.DeploymentUpdate.model_validate(fields)
        url = url_path("/v1/deployments/{}", deployment_id)
        return parse(inference.Deployment, self._client.request("PATCH", url, json=body))

    def delete(self, deployment_id: str) -> inference.Deployment:
        url = url_path("/v1/deployments/{}", deployment_id)
        return parse(inference.Deployment, self._client.request("DELETE", url))

    def predict(self, deployment_id: str, inputs: Sequence[inference.PredictInput]) -> inference.PredictResponse:
        body = inference.PredictRequest.model_validate({"inputs": list(inputs)})
        url = url_path("/v1/deployments/{}/predict", deployment_id)
        return parse(inference.PredictResponse, self._client.request("POST", url, json=body))

    @overload
    def chat(
        self,
        deployment_id: str,
        request: openai.ChatCompletionRequest | None = None,
        /,
        *,
        stream: Literal[False] = False,
        **fields: Any,
    ) -> openai.ChatCompletion: ...

    @overload
    def chat(
        self,
        deployment_id: str,
        request: openai.ChatCompletionRequest | None = None,
        /,
        *,
        stream: Literal[True],
        **fields: Any,
    ) -> Iterator[openai.ChatCompletionChunk]: ...

    def chat(
        self,
        deployment_id: str,
        request: openai.ChatCompletionRequest | None = None,
        /,
        *,
        stream: bool = False,
        **fields: Any,
    ) -> openai.ChatCompletion | Iterator[openai.ChatCompletionChunk]:
        """OpenAI's chat completions from an llm deployment: the whole reply, or with ``stream=True`` its
        pieces as they are generated."""
        body = model_of(openai.ChatCompletionRequest, request, fields | ({"stream": True} if stream else {}))
        url = url_path("/v1/deployments/{}/chat/completions", deployment_id)
        if body.stream:
            return self._client.events(openai.ChatCompletionChunk, url, body)
        return parse(openai.ChatCompletion, self._client.request("POST", url, json=body))

    def create_task(
        self, deployment_id: str, inputs: Sequence[inference.PredictInput], callback_url: str | None = None
    ) -> inference.Task:
        body = inference.TaskCreate.model_validate({"inputs": list(inputs), "callback_url": callback_url})
        url = url_path("/v1/deployments/{}/tasks", deployment_id)
        return parse(inference.Task, self._client.request("POST", url, json=body))

    def watch(
        self, deployment_id: str, *, interval_s: float = 1.0, timeout_s: float | None = None
    ) -> Iterator[inference.Deployment]:
        return self._client.watch(
            "deployment", lambda: self.get(deployment_id), interval_s=interval_s, timeout_s=timeout_s
        )

    def wait(
        self,
        deployment_id: str,
        *,
        interval_s: float = 1.0,
        timeout_s: float | None = 600,
        on_progress: Callable[[inference.Deployment], None] | None = None,
    ) -> inference.Deployment:
        """Until it is ready (or failed: ``ResourceFailed``)."""
        result: inference.Deployment = self._client.wait(
            "deployment",
            lambda: self.get(deployment_id),
            interval_s=interval_s,
            timeout_s=timeout_s,
            on_progress=on_progress,
        )
        return result


class Tasks(_Resource):
    def get(self, task_id: str) -> inference.Task:
        return self._client.get(inference.Task, url_path("/v1/tasks/{}", task_id))

    def wait(self, task_id: str, *, interval_s: float = 0.5, timeout_s: float | None = 600) -> inference.Task:
        result: inference.Task = self._client.wait(
            "task", lambda: self.get(task_id), interval_s=interval_s, timeout_s=timeout_s
        )
        return result


class BatchPredictions(_Resource):
    def create(
        self, request: inference.BatchPredictionCreate | None = None, /, **fields: Any
    ) -> inference.BatchPrediction:
        body = model_of(inference.BatchPredictionCreate, request, fields)
        answer = self._client.request("POST", "/v1/batch-predictions", json=body)
        return parse(inference.BatchPrediction, answer)

    def list(self, *, limit: int = 100) -> Iterator[inference.BatchPrediction]:
        return self._client.pages(inference.BatchPrediction, "/v1/batch-predictions", {"limit": limit})

    def get(self, batch_id: str) -> inference.BatchPrediction:
        return self._client.get(inference.BatchPrediction, url_path("/v1/batch-predictions/{}", batch_id))

    def results(self, batch_id: str, target: str | Path | IO[bytes]) -> Download:
        return self._client.download(url_path("/v1/batch-predictions/{}/results", batch_id), target)

    def watch(
        self, batch_id: str, *, interval_s: float = 1.0, timeout_s: float | None = None
    ) -> Iterator[inference.BatchPrediction]:
        return self._client.watch(
            "batch_prediction", lambda: self.get(batch_id), interval_s=interval_s, timeout_s=timeout_s
        )

    def wait(
        self,
        batch_id: str,
        *,
        interval_s: float = 1.0,
        timeout_s: float | None = None,
        on_progress: Callable[[inference.BatchPrediction], None] | None = None,
    ) -> inference.BatchPrediction:
        result: inference.BatchPrediction = self._client.wait(
            "batch_prediction",
            lambda: self.get(batch_id),
            interval_s=interval_s,
            timeout_s=timeout_s,
            on_progress=on_progress,
        )
        return result


class Usage(_Resource):
    def get(self, *, since: str | None = None, until: str | None = None) -> inference.Usage:
        """Per day, deployment and key; ``since`` / ``until`` are dates (YYYY-MM-DD)."""
        return self._client.get(inference.Usage, "/v1/usage", {"from": since, "to": until})
