"""inference-svc's side of Ray Serve: connect (or start a local Ray), run and delete apps, read their status,
and call them through handles. Serve's API is blocking, so every control call runs in a thread."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ray.serve.deployment import Application
from ray.serve.handle import DeploymentHandle, DeploymentResponseGenerator

from inference_svc.serving import local_ray
from inference_svc.serving.loader import ModelInput

logger = logging.getLogger("automl.inference.serve")


def _on_keeper_thread(start: Callable[[], object]) -> None:
    """Run ``start`` (which spawns Ray's local processes) on a thread that lives as long as the process.
    Ray ties its processes to their parent with PR_SET_PDEATHSIG, which Linux fires when the parent *thread*
    exits: started from a passing worker thread, Ray would be killed when that thread ends."""
    done = threading.Event()
    errors: list[BaseException] = []

    def keep() -> None:
        try:
            start()
        except BaseException as error:
            errors.append(error)
        finally:
            done.set()
        threading.Event().wait()

    threading.Thread(target=keep, name="ray-keeper", daemon=True).start()
    done.wait()
    if errors:
        raise errors[0]


@dataclass(frozen=True)
class AppState:
    """One Serve app as Serve sees it."""

    status: str  # NOT_STARTED | DEPLOYING | DEPLOY_FAILED | RUNNING | UNHEALTHY | DELETING
    message: str
    running: int
    starting: int
    stopping: int


class ServeRuntime:
    def __init__(
        self,
        *,
        address: str | None,
        num_cpus: int,
        namespace: str = "automl",
        require_auth: bool = False,
        stop_local_ray: bool = True,
        scope: str = "default",
        token_path: Path | None = None,
    ) -> None:
        self.address = address
        self.num_cpus = num_cpus
        self.namespace = namespace
        self.require_auth = require_auth
        self.stop_local_ray = stop_local_ray
        self.scope = scope  # one platform's local Ray processes (its data dir), told apart from another's
        self.token_path = token_path
        self._local_marker: str | None = None  # set when this process started the local Ray
        self._handles: dict[str, DeploymentHandle[Any]] = {}

    async def start(self) -> None:
        await asyncio.to_thread(self._start)

    def _start(self) -> None:
        import ray
        from ray import serve

        if not ray.is_initialized():
            if self.address:
                if self.require_auth and os.environ.get("RAY_AUTH_MODE", "").lower() != "token":
                    raise RuntimeError(
                        "refusing to use a Ray cluster without authentication: set RAY_AUTH_MODE=token and "
                        "RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH) for inference-svc and the cluster, or isolate "
                        "the cluster's network and set AUTOML_INFERENCE_RAY_REQUIRE_AUTH=false"
                    )
                ray.init(address=self.address, namespace=self.namespace, log_to_driver=False)
            else:
                # Local mode: this process starts Ray (and it stops with the process).
                # A Ray left by a predecessor that was killed (its agents outlive it) goes first.
                swept = local_ray.sweep_orphans(self.scope)
                if swept:
                    logger.info("stopped %d Ray process(es) left by a previous inference-svc", swept)
                local_ray.confine(self.token_path)
                # Every process Ray starts inherits this mark, so the ones that escape Ray's own shutdown (its
                # agents run in sessions of their own) can still be found and stopped with us.
                self._local_marker = local_ray.mark(self.scope)
                _on_keeper_thread(
                    lambda: ray.init(
                        num_cpus=self.num_cpus,
                        include_dashboard=False,
                        namespace=self.namespace,
                        log_to_driver=False,
                        logging_level=logging.WARNING,
                    )
                )
        # Requests reach Serve through handles from this service, never through Serve's own HTTP proxy.
        serve.start(proxy_location="Disabled")

    async def stop(self) -> None:
        """Stop the local Ray this process started (every process of it); a cluster's Ray is left alone."""
        if self._local_marker is None or not self.stop_local_ray:
            return
        await asyncio.to_thread(self._stop_local)

    def _stop_local(self) -> None:
        import ray

        marker, self._local_marker = self._local_marker, None
        self._handles.clear()
        try:
            ray.shutdown()
        except Exception:  # still sweep what is left
            logger.exception("ray.shutdown failed")
        if marker:
            left = local_ray.stop_marked(marker)
            if left:
                logger.info("stopped %d Ray process(es) left after ray.shutdown", left)

    async def run(self, app_name: str, app: Application) -> None:
        """Deploy (or update in place) ``app_name``; returns once it runs, raises if it cannot."""
        from ray import serve

        await asyncio.to_thread(serve.run, app, name=app_name, route_prefix=None)

    async def delete(self, app_name: str) -> None:
        from ray import serve

        self._handles.pop(app_name, None)
        await asyncio.to_thread(serve.delete, app_name)

    async def states(self) -> dict[str, AppState]:
        return await asyncio.to_thread(self._states)

    def _states(self) -> dict[str, AppState]:
        """From the controller's raw details: ``serve.status()`` builds pydantic models from the same dict,
        cloudpickling each deployment's router config on the way (measured: 56 ms of this service's CPU per
        call with 8 apps, against 4 ms for the dict, and growing with each app)."""
        from ray.serve.context import _get_global_client

        client = _get_global_client(raise_if_no_controller_running=False)
        if client is None:
            return {}
        states = {}
        for name, app in client.get_serve_details().get("applications", {}).items():
            counts: dict[str, int] = {}
            messages = [str(app.get("message") or "")]
            for deployment in app.get("deployments", {}).values():
                messages.append(str(deployment.get("message") or ""))
                for replica in deployment.get("replicas", []):
                    key = _value(replica.get("state"))
                    counts[key] = counts.get(key, 0) + 1
            states[name] = AppState(
                status=_value(app.get("status")),
                message="; ".join(m for m in messages if m),
                running=counts.get("RUNNING", 0),
                starting=counts.get("STARTING", 0) + counts.get("UPDATING", 0) + counts.get("RECOVERING", 0),
                stopping=counts.get("STOPPING", 0),
            )
        return states

    async def handle(self, app_name: str) -> DeploymentHandle[Any]:
        handle = self._handles.get(app_name)
        if handle is None:
            from ray import serve

            handle = await asyncio.to_thread(serve.get_app_handle, app_name)
            self._handles[app_name] = handle
        return handle

    async def predict(self, app_name: str, inputs: Sequence[ModelInput]) -> list[dict[str, Any]]:
        handle = await self.handle(app_name)
        outputs: list[dict[str, Any]] = await handle.predict.remote(list(inputs))
        return outputs

    async def stream(
        self, app_name: str, request: dict[str, Any], source: Any = None
    ) -> AsyncGenerator[dict[str, Any]]:
        """An llm replica's reply piece by piece (``LLMReplica.stream``; with ``source``, a shared
        app's for that model, ``AdapterReplica.stream``)."""
        handle = await self.handle(app_name)
        streaming = handle.options(stream=True)
        replies = streaming.stream.remote(source, request) if source is not None else streaming.stream.remote(request)
        assert isinstance(replies, DeploymentResponseGenerator)
        async with contextlib.aclosing(_until_left(replies)) as items:
            async for item in items:
                yield item

    async def parity_prompts(self, app_name: str, source: Any = None) -> list[dict[str, Any]]:
        handle = await self.handle(app_name)
        call = handle.parity_prompts.remote(source) if source is not None else handle.parity_prompts.remote()
        prompts: list[dict[str, Any]] = await call
        return prompts

    async def with_source(self, app_name: str, source: Any, inputs: Sequence[ModelInput]) -> list[dict[str, Any]]:
        """A shared app's answers for one model whose files the request names (``AdapterReplica``)."""
        handle = await self.handle(app_name)
        outputs: list[dict[str, Any]] = await handle.predict.remote(source, list(inputs))
        return outputs

    async def playground_stream(
        self, app_name: str, model_id: str, source: Any, request: dict[str, Any]
    ) -> AsyncGenerator[dict[str, Any]]:
        """A whole llm model's reply on the multiplexed playground app, piece by piece."""
        handle = await self.handle(app_name)
        replies = handle.options(multiplexed_model_id=model_id, stream=True).stream.remote(source, request)
        assert isinstance(replies, DeploymentResponseGenerator)
        async with contextlib.aclosing(_until_left(replies)) as items:
            async for item in items:
                yield item

    async def playground(
        self, app_name: str, model_id: str, source: Any, inputs: Sequence[ModelInput]
    ) -> list[dict[str, Any]]:
        handle = await self.handle(app_name)
        outputs: list[dict[str, Any]] = await handle.options(multiplexed_model_id=model_id).predict.remote(
            source, list(inputs)
        )
        return outputs


async def _until_left(replies: DeploymentResponseGenerator[Any]) -> AsyncGenerator[dict[str, Any]]:
    """A replica's stream, cancelled in the replica if its reader leaves before the end (a dropped client,
    the predict timeout): the replica's generation then stops (``replicas.streamed``) instead of running on."""
    finished = False
    try:
        async for item in replies:
            yield item
        finished = True
    finally:
        if not finished:
            replies.cancel()  # type: ignore[no-untyped-call]


def _value(state: Any) -> str:
    """An enum member's value (Serve's states are str enums), or the string itself."""
    return str(getattr(state, "value", state))
