"""The detector: an image backbone's last three feature maps merged top-down into one map at stride 4 (a small
feature pyramid), and CenterNet's heads on it (Zhou et al., "Objects as Points", 2019): a heat map per class
whose peaks are object centres, and at each centre the box's size and the centre's sub-cell offset.

Why CenterNet rather than FCOS: one output level and one positive cell per object make targets, loss and
decoding a page of plain torch each; a 3x3 max-pool replaces non-maximum suppression; and stride 4 keeps the
small objects of moderation images (a logo, a weapon in a corner) on their own cells."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional

from modelkit.model_types.vision import HeadOnBackbone

HEAT_BIAS = -2.19  # sigmoid(-2.19) = 0.1: the heat maps start low, as CenterNet initialises them
OUTPUT_STRIDE = 4


@dataclass
class DetectorOutput:
    heat: torch.Tensor  # (N, classes, h, w) logits
    size: torch.Tensor  # (N, 2, h, w): box width and height, in output cells
    offset: torch.Tensor  # (N, 2, h, w): the centre's offset within its cell


def _head(width: int, out: int, bias: float = 0.0) -> nn.Sequential:
    head = nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(width, out, 1))
    last = head[-1]
    assert isinstance(last, nn.Conv2d)
    assert last.bias is not None
    nn.init.constant_(last.bias, bias)
    return head


class CenterNet(HeadOnBackbone):
    def __init__(self, backbone: nn.Module, num_classes: int, image_size: int, width: int = 64) -> None:
        super().__init__()
        self.backbone = backbone
        self.num_classes = num_classes
        maps = self.probe(image_size)[-3:]
        finest_stride = image_size // maps[0].shape[-1]
        self.upsample = max(1, finest_stride // OUTPUT_STRIDE)
        self.stride = finest_stride // self.upsample
        self.lateral = nn.ModuleList(nn.Conv2d(feature.shape[1], width, 1) for feature in maps)
        self.smooth = nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        self.heat = _head(width, num_classes, HEAT_BIAS)
        self.size = _head(width, 2)
        self.offset = _head(width, 2)

    def forward(self, pixels: torch.Tensor) -> DetectorOutput:
        maps = self.stages(pixels)[-3:]
        x = self.lateral[-1](maps[-1])
        for lateral, feature in zip(list(self.lateral)[-2::-1], maps[-2::-1], strict=True):
            x = functional.interpolate(x, size=feature.shape[-2:], mode="nearest") + lateral(feature)
        if self.upsample > 1:
            x = functional.interpolate(x, scale_factor=self.upsample, mode="bilinear", align_corners=False)
        x = self.smooth(x)
        return DetectorOutput(self.heat(x), functional.relu(self.size(x)), self.offset(x))
