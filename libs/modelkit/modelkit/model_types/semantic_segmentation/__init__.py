"""Semantic segmentation: an LR-ASPP head and a light decoder (see ``model``) on the image backbones of image
classification (MobileNetV2, EfficientNet-Lite0), trained last layer (backbone frozen) or full. A model's folder:
``segmenter.json`` (its classes, input size, normalisation, the backbone's config) and ``model.safetensors``
(every weight)."""

from __future__ import annotations

from torch import nn

from modelkit.model_types.semantic_segmentation.model import Segmenter
from modelkit.model_types.vision import BackboneHeadTask


class SemanticSegmentation(BackboneHeadTask[Segmenter]):
    name = "semantic_segmentation"
    manifest_file = "segmenter.json"

    def network(self, backbone: nn.Module, num_classes: int, image_size: int) -> Segmenter:
        return Segmenter(backbone, num_classes, image_size)
