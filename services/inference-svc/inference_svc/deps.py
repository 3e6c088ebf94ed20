"""inference-svc's own dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from automl_common.auth import require_org_id
from automl_common.context import KEY_ID_HEADER
from automl_common.deps import from_state
from automl_common.http import InternalClient
from automl_common.ssrf import GuardedFetcher
from inference_svc.batch.worker import BatchRunner
from inference_svc.deployments.calls import ServeCalls
from inference_svc.deployments.worker import DeploymentManager
from inference_svc.inputs import InputReader
from inference_svc.settings import InferenceSettings
from inference_svc.tasks.worker import TaskRunner
from inference_svc.upstreams import Upstreams
from inference_svc.usage.meter import Payer, TokenMeter

ManagerDep = Annotated[DeploymentManager, Depends(from_state("manager", DeploymentManager))]
ServeCallsDep = Annotated[ServeCalls, Depends(from_state("serve_calls", ServeCalls))]
TrainerDep = Annotated[InternalClient, Depends(from_state("trainer", InternalClient))]
InferenceSettingsDep = Annotated[InferenceSettings, Depends(from_state("settings", InferenceSettings))]
CallbacksDep = Annotated[GuardedFetcher, Depends(from_state("callbacks", GuardedFetcher))]
TaskRunnerDep = Annotated[TaskRunner, Depends(from_state("task_runner", TaskRunner))]
BatchRunnerDep = Annotated[BatchRunner, Depends(from_state("batch_runner", BatchRunner))]
UpstreamsDep = Annotated[Upstreams, Depends(from_state("upstreams", Upstreams))]
InputsDep = Annotated[InputReader, Depends(from_state("inputs", InputReader))]
TokenMeterDep = Annotated[TokenMeter, Depends(from_state("token_meter", TokenMeter))]


def payer_of(request: Request) -> Payer:
    """Whom the call's tokens are billed to: its org, and the key the gateway authenticated (it forwards it)."""
    return Payer(require_org_id(request), request.headers.get(KEY_ID_HEADER, ""))


PayerDep = Annotated[Payer, Depends(payer_of)]
