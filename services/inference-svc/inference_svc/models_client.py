"""What inference-svc asks trainer-svc: where a succeeded model's files are."""

from __future__ import annotations

from automl_common.http import InternalClient, url_path
from automl_proto.inference import ModelArtifacts
from inference_svc.errors import ModelNotFound, ModelNotReady


async def model_artifacts(trainer: InternalClient, org_id: str, model_id: str) -> ModelArtifacts:
    def not_ready(reason: str) -> ModelNotReady:
        return ModelNotReady(reason or f"model {model_id!r} is not ready")

    path = url_path("/internal/models/{}/artifacts", model_id)
    errors = {404: lambda _: ModelNotFound(f"model {model_id!r} not found"), 409: not_ready}
    return await trainer.typed(ModelArtifacts, "GET", path, org_id=org_id, errors=errors)
