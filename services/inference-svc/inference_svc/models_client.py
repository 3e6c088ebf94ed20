"""What inference-svc asks trainer-svc: where a succeeded model's files are."""

from __future__ import annotations

from automl_common.http import InternalClient, url_path
from automl_proto.inference import ModelArtifacts
from inference_svc.errors import ModelNotFound, ModelNotReady


async def model_artifacts(trainer: InternalClient, org_id: str, model_id: str) -> ModelArtifacts:
    response = await trainer.request("GET", url_path("/internal/models/{}/artifacts", model_id), org_id=org_id)
    if response.status_code == 404:
        raise ModelNotFound(f"model {model_id!r} not found")
    if response.status_code == 409:
        raise ModelNotReady(response.json().get("detail", f"model {model_id!r} is not ready"))
    response.raise_for_status()
    return ModelArtifacts.model_validate(response.json())
