"""What the detection and segmentation benches share: a run's options as the platform fills them (the type's
defaults for the method, the bench's image size, epochs and seed) and the fit settings the worker derives."""

from __future__ import annotations

from automl_proto.models import TrainingOptions
from deploy.local.garment_canvases import SEED
from modelkit import model_types
from modelkit.model_types.vision import FitSettings


def run_settings(model_type: str, method: str, image_size: int, epochs: int) -> tuple[TrainingOptions, FitSettings]:
    options = TrainingOptions(image_size=image_size, max_epochs=epochs, seed=SEED).resolved(
        method, model_types.info(model_type).method_defaults.get(method)
    )
    return options, FitSettings.of(options)
