"""Object detection: an anchor-free detector (CenterNet's heads on a small feature pyramid, see ``model``) over
the image backbones of image classification (MobileNetV2, EfficientNet-Lite0), trained last layer (backbone
frozen) or full. A model's folder: ``detector.json`` (its classes, input size, normalisation, the backbone's
config) and ``model.safetensors`` (every weight)."""

from __future__ import annotations

from torch import nn

from modelkit.model_types.object_detection.model import CenterNet
from modelkit.model_types.vision import BackboneHeadTask


class ObjectDetection(BackboneHeadTask[CenterNet]):
    name = "object_detection"
    manifest_file = "detector.json"

    def network(self, backbone: nn.Module, num_classes: int, image_size: int) -> CenterNet:
        return CenterNet(backbone, num_classes, image_size)
