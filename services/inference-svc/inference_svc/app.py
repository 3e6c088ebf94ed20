"""The inference-svc app factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from automl_common.app import ServiceSpec, create_service_app
from automl_common.http import InternalClient
from automl_common.ssrf import GuardedFetcher, UrlPolicy
from automl_common.storage import ObjectStore
from inference_svc.batch.router import router as batch_router
from inference_svc.batch.worker import BatchRunner
from inference_svc.db import VERSION_TABLE
from inference_svc.deployments.calls import ServeCalls
from inference_svc.deployments.generation import router as generation_router
from inference_svc.deployments.router import router as deployments_router
from inference_svc.deployments.worker import DeploymentManager
from inference_svc.inputs import InputReader
from inference_svc.metrics import InferenceMetrics
from inference_svc.playground.router import internal_router as playground_router
from inference_svc.serving import local_ray
from inference_svc.serving.runtime import ServeRuntime
from inference_svc.settings import InferenceSettings
from inference_svc.tasks.router import router as tasks_router
from inference_svc.tasks.worker import TaskRunner
from inference_svc.upstreams import Upstreams
from inference_svc.usage.meter import TokenMeter
from inference_svc.usage.router import internal_router as usage_router

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "alembic"


def create_app(
    settings: InferenceSettings | None = None,
    *,
    store: ObjectStore | None = None,
    callback_policy: UrlPolicy | None = None,
    image_url_policy: UrlPolicy | None = None,
) -> FastAPI:
    """``store`` is for inference-svc's own use; replicas always build theirs from ``settings`` (they run in
    other processes). ``callback_policy`` and ``image_url_policy`` override the SSRF policy for callback and
    image URLs (tests)."""
    settings = settings or InferenceSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        token = settings.resolved_internal_token()
        upstreams = Upstreams(
            trainer=InternalClient("trainer-svc", settings.trainer_url, token),
            snapshots=InternalClient("snapshot-svc", settings.snapshot_url, token),
            datasets=InternalClient("dataset-svc", settings.dataset_url, token),
        )
        callbacks = GuardedFetcher(
            callback_policy or UrlPolicy(allow_private=settings.allow_private_callbacks),
            timeout_s=settings.callback_timeout_s,
            max_bytes=1024 * 1024,
            max_redirects=0,
            user_agent="automl-callbacks/1",
        )
        images = GuardedFetcher(
            image_url_policy or UrlPolicy(allow_private=settings.allow_private_image_urls),
            timeout_s=settings.image_fetch_timeout_s,
            max_bytes=settings.max_image_bytes,
            user_agent="automl-images/1",
        )
        runtime = ServeRuntime(
            address=settings.ray_address,
            num_cpus=settings.ray_num_cpus,
            require_auth=settings.mode == "cluster" and settings.ray_require_auth,
            stop_local_ray=settings.ray_stop_on_shutdown,
            scope=local_ray.scope_of(settings.data_dir),
            token_path=settings.data_dir / "ray.token",
        )
        token_meter = TokenMeter(app.state.database, settings.usage_flush_interval_s)
        metrics = InferenceMetrics(app.state.metrics_registry)
        calls = ServeCalls(runtime, settings, metrics, token_meter)
        manager = DeploymentManager(app.state.database, calls, settings, metrics, upstreams.trainer)
        runner = TaskRunner(app.state.database, calls, callbacks, settings)
        batch_runner = BatchRunner(app.state.database, app.state.store, calls, upstreams, settings)
        app.state.upstreams = upstreams
        app.state.trainer = upstreams.trainer
        app.state.callbacks = callbacks
        app.state.inputs = InputReader(settings, images)
        app.state.manager = manager
        app.state.serve_calls = calls
        app.state.task_runner = runner
        app.state.batch_runner = batch_runner
        app.state.token_meter = token_meter
        await token_meter.start()
        await manager.start()
        await runner.start()
        await batch_runner.start()
        try:
            yield
        finally:
            await batch_runner.stop()
            await runner.stop()
            await manager.stop()
            await token_meter.stop()
            await runtime.stop()
            await callbacks.aclose()
            await images.aclose()
            await upstreams.aclose()

    spec = ServiceSpec(
        title="AutoML inference-svc",
        migrations_dir=MIGRATIONS_DIR,
        version_table=VERSION_TABLE,
        routers=[deployments_router, generation_router, tasks_router, batch_router, playground_router, usage_router],
        lifespan=lifespan,
    )
    return create_service_app(spec, settings, store=store)
