"""What inference-svc asks trainer-svc: where a succeeded model's files are."""

from __future__ import annotations

from automl_common.http import InternalClient, url_path
from automl_proto import model_types
from automl_proto.inference import ModelArtifacts
from inference_svc.errors import ModelNotFound, ModelNotReady, ModelNotServable

# The families a replica has a predictor for (``serving.loader`` and ``serving.apps.APP_BUILDERS``, which
# import torch and Ray): every path to a model (deployments, playground, batch) starts here, so a model of
# another family is refused here, by name.
SERVED_FAMILIES: frozenset[str] = frozenset({"classifier", "llm", "detector", "segmenter"})


async def model_artifacts(trainer: InternalClient, org_id: str, model_id: str) -> ModelArtifacts:
    def not_ready(reason: str) -> ModelNotReady:
        return ModelNotReady(reason or f"model {model_id!r} is not ready")

    path = url_path("/internal/models/{}/artifacts", model_id)
    errors = {404: lambda _: ModelNotFound(f"model {model_id!r} not found"), 409: not_ready}
    artifacts = await trainer.typed(ModelArtifacts, "GET", path, org_id=org_id, errors=errors)
    if model_types.info(artifacts.model_type).family not in SERVED_FAMILIES:
        raise ModelNotServable(
            f"model_id: {model_id!r} is an {artifacts.model_type} model; serving those is not in this release yet"
        )
    return artifacts
