"""The playground's serving side. The gateway owns the public endpoint and its quota; it calls this one."""

from __future__ import annotations

from fastapi import APIRouter

from automl_common.auth import OrgIdDep
from automl_common.errors import Conflict, InvalidRequest, NotFound, ServiceUnavailable, error_responses
from automl_common.ids import IdPath
from automl_proto import inference as schemas
from inference_svc.deps import InputsDep, ManagerDep, TrainerDep
from inference_svc.models_client import model_artifacts

internal_router = APIRouter(prefix="/internal/playground", tags=["internal"], include_in_schema=False)


@internal_router.post(
    "/{model_id}",
    response_model=schemas.Output,
    responses=error_responses(NotFound, Conflict, InvalidRequest, ServiceUnavailable),
)
async def playground_predict(
    model_id: IdPath,
    body: schemas.PlaygroundRequest,
    trainer: TrainerDep,
    manager: ManagerDep,
    reader: InputsDep,
    org_id: OrgIdDep,
) -> schemas.Output:
    """One input on any succeeded model of the org, without a deployment (shared, multiplexed replicas): a
    classifier's scores, or an llm model's reply."""
    artifacts = await model_artifacts(trainer, org_id, model_id)
    values = await reader.read([body.input], artifacts.model_type, max_inputs=1)
    outputs = await manager.playground(artifacts, values)
    return schemas.output_of(outputs[0])
