"""The segmenter: LR-ASPP's head (Howard et al., "Searching for MobileNetV3", 2019) on an image backbone. The
backbone's last map (stride 32) goes through a 1x1 convolution gated by its own global average (the "lite"
ASPP), is upsampled to a finer map (stride 8) and classified there with that map's own 1x1 classifier; the
logits are upsampled to the input's size.

Why LR-ASPP rather than DeepLabV3+: two 1x1 branches and one gate are the whole head (a few thousand weights per
class), which suits last-layer training on a frozen backbone and keeps a CPU forward pass close to the
backbone's own cost; the stride-8 branch gives the boundaries the stride-32 map cannot."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

from modelkit.model_types.vision import HeadOnBackbone

IGNORE_INDEX = 255  # a mask pixel with this value is not scored


class LRASPP(HeadOnBackbone):
    def __init__(self, backbone: nn.Module, num_classes: int, image_size: int, width: int = 128) -> None:
        super().__init__()
        self.backbone = backbone
        self.num_classes = num_classes
        low, high = self._stages(self.probe(image_size))
        self.project = nn.Sequential(
            nn.Conv2d(high.shape[1], width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)
        )
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(high.shape[1], width, 1), nn.Sigmoid())
        self.low_classifier = nn.Conv2d(low.shape[1], num_classes, 1)
        self.high_classifier = nn.Conv2d(width, num_classes, 1)

    @staticmethod
    def _stages(stages: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The finer map (stride 8, or the finest a small backbone has) and the last one."""
        return stages[max(0, len(stages) - 3)], stages[-1]

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """(N, classes, H, W) logits at the input's size."""
        low, high = self._stages(self.stages(pixels))
        x = self.project(high) * self.gate(high)
        x = functional.interpolate(x, size=low.shape[-2:], mode="bilinear", align_corners=False)
        logits = self.low_classifier(low) + self.high_classifier(x)
        return functional.interpolate(logits, size=pixels.shape[-2:], mode="bilinear", align_corners=False)
