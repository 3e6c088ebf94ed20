"""Image backbones written in torch (torchvision and timm do not work with the torch here), each with the
parameter names of the weights that ship for it, so those load as they are:

- ``mobilenet_v2``: torchvision's MobileNetV2 (``features.*``), ImageNet weights;
- ``efficientnet_lite0``: efficientnet_pytorch's EfficientNet-Lite0 (``_conv_stem``, ``_blocks.*``): no
  squeeze-excitation, ReLU6, TensorFlow's "same" padding.

A backbone maps (N, 3, H, W) normalised pixels to (N, features) after global average pooling. Its folder is
``config.json`` (``model_type``, sizes, normalisation) plus ``model.safetensors`` (the backbone's weights,
without the ImageNet classifier)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn import functional

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
WEIGHTS_FILE = "model.safetensors"


class BackboneError(Exception):
    pass


def make_divisible(value: float, divisor: int = 8) -> int:
    """torchvision's channel rounding: to a multiple of ``divisor``, never down by more than 10%."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


# -- MobileNetV2 (torchvision) ------------------------------------------------------------------------------
def _conv_bn(inp: int, out: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    """torchvision's Conv2dNormActivation: conv (no bias), batch norm, ReLU6 (indexes 0, 1, 2)."""
    return nn.Sequential(
        nn.Conv2d(inp, out, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    def __init__(self, inp: int, out: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = round(inp * expand_ratio)
        self.use_residual = stride == 1 and inp == out
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(_conv_bn(inp, hidden, kernel=1))
        layers += [
            _conv_bn(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, out, 1, 1, 0, bias=False),
            nn.BatchNorm2d(out),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.conv(x)
        return x + out if self.use_residual else out


MOBILENET_V2_BLOCKS = [
    [1, 16, 1, 1],
    [6, 24, 2, 2],
    [6, 32, 3, 2],
    [6, 64, 4, 2],
    [6, 96, 3, 1],
    [6, 160, 3, 2],
    [6, 320, 1, 1],
]


class MobileNetV2(nn.Module):
    def __init__(
        self, width_mult: float = 1.0, blocks: list[list[int]] | None = None, last_channel: int | None = None
    ) -> None:
        super().__init__()
        channels = make_divisible(32 * width_mult)
        self.features_dim = last_channel or make_divisible(1280 * max(1.0, width_mult))
        layers: list[nn.Module] = [_conv_bn(3, channels, stride=2)]
        for expand, width, repeats, stride in blocks or MOBILENET_V2_BLOCKS:
            out = make_divisible(width * width_mult)
            for index in range(repeats):
                layers.append(InvertedResidual(channels, out, stride if index == 0 else 1, expand))
                channels = out
        layers.append(_conv_bn(channels, self.features_dim, kernel=1))
        self.features = nn.Sequential(*layers)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return functional.adaptive_avg_pool2d(self.features(pixels), 1).flatten(1)

    def stages(self, pixels: torch.Tensor) -> list[torch.Tensor]:
        """The last feature map at each resolution, finest first (strides 2, 4, 8, 16, 32): a detector's
        pyramid is built from them."""
        return _last_per_resolution(pixels, list(self.features))


# -- EfficientNet-Lite0 (efficientnet_pytorch's names) ----------------------------------------------------
class SameConv2d(nn.Conv2d):
    """TensorFlow's "same" padding, computed from the input's size (more at the bottom/right if odd)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, kernel, stride in zip(x.shape[-2:][::-1], self.kernel_size[::-1], self.stride[::-1], strict=True):
            total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(functional.pad(x, pads))


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


class MBConvBlock(nn.Module):
    def __init__(self, inp: int, out: int, kernel: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = inp * expand_ratio
        self.expand = expand_ratio != 1
        if self.expand:
            self._expand_conv = SameConv2d(inp, hidden, 1, bias=False)
            self._bn0 = _bn(hidden)
        self._depthwise_conv = SameConv2d(hidden, hidden, kernel, stride, groups=hidden, bias=False)
        self._bn1 = _bn(hidden)
        self._project_conv = SameConv2d(hidden, out, 1, bias=False)
        self._bn2 = _bn(out)
        self.use_residual = stride == 1 and inp == out

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = functional.relu6(self._bn0(self._expand_conv(inputs))) if self.expand else inputs
        x = functional.relu6(self._bn1(self._depthwise_conv(x)))
        out: torch.Tensor = self._bn2(self._project_conv(x))
        return out + inputs if self.use_residual else out


# (kernel, stride, expand ratio, input, output, repeats) of EfficientNet-Lite0
EFFICIENTNET_LITE0_BLOCKS = [
    [3, 1, 1, 32, 16, 1],
    [3, 2, 6, 16, 24, 2],
    [5, 2, 6, 24, 40, 2],
    [3, 2, 6, 40, 80, 3],
    [5, 1, 6, 80, 112, 3],
    [5, 2, 6, 112, 192, 4],
    [3, 1, 6, 192, 320, 1],
]


class EfficientNetLite(nn.Module):
    def __init__(self, blocks: list[list[int]] | None = None, head_channels: int = 1280) -> None:
        super().__init__()
        blocks = blocks or EFFICIENTNET_LITE0_BLOCKS
        self._conv_stem = SameConv2d(3, blocks[0][3], 3, 2, bias=False)
        self._bn0 = _bn(blocks[0][3])
        layers: list[nn.Module] = []
        for kernel, stride, expand, inp, out, repeats in blocks:
            for index in range(repeats):
                layers.append(MBConvBlock(inp if index == 0 else out, out, kernel, stride if index == 0 else 1, expand))
        self._blocks = nn.ModuleList(layers)
        self._conv_head = SameConv2d(blocks[-1][4], head_channels, 1, bias=False)
        self._bn1 = _bn(head_channels)
        self.features_dim = head_channels

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = functional.relu6(self._bn0(self._conv_stem(pixels)))
        for block in self._blocks:
            x = block(x)
        assert isinstance(x, torch.Tensor)
        x = functional.relu6(self._bn1(self._conv_head(x)))
        return functional.adaptive_avg_pool2d(x, 1).flatten(1)

    def stages(self, pixels: torch.Tensor) -> list[torch.Tensor]:
        """As ``MobileNetV2.stages``."""
        stem = functional.relu6(self._bn0(self._conv_stem(pixels)))
        head = nn.Sequential(self._conv_head, self._bn1, nn.ReLU6())
        return _last_per_resolution(stem, [*self._blocks, head], first=stem)


def _last_per_resolution(
    x: torch.Tensor, layers: list[nn.Module], first: torch.Tensor | None = None
) -> list[torch.Tensor]:
    maps: list[torch.Tensor] = [first] if first is not None else []
    for layer in layers:
        x = layer(x)
        if maps and maps[-1].shape[-2:] == x.shape[-2:]:
            maps[-1] = x
        else:
            maps.append(x)
    return maps


# -- folders ------------------------------------------------------------------------------------------------
def build(config: dict[str, Any]) -> nn.Module:
    """The architecture a folder's config names; it keeps the config (``backbone.config``) to save it again."""
    kind = config.get("model_type")
    backbone: nn.Module
    try:
        if kind == "mobilenet_v2":
            backbone = MobileNetV2(
                float(config.get("width_mult", 1.0)), config.get("blocks"), config.get("last_channel")
            )
        elif kind == "efficientnet_lite0":
            backbone = EfficientNetLite(config.get("blocks"), int(config.get("head_channels", 1280)))
        else:
            raise BackboneError(f"config.json: unknown image backbone {kind!r} (mobilenet_v2 or efficientnet_lite0)")
    except (TypeError, ValueError, IndexError) as e:
        raise BackboneError(f"config.json: {kind} settings that do not build: {e}") from e
    backbone.config = dict(config)  # type: ignore[assignment]
    return backbone


def read_config(model_dir: Path) -> dict[str, Any]:
    try:
        config: dict[str, Any] = json.loads((model_dir / "config.json").read_text())
    except (OSError, ValueError) as e:
        raise BackboneError(f"unreadable config.json in the image model folder: {e}") from e
    return config


def features_dim(config: dict[str, Any]) -> int:
    dim: int = build(config).features_dim  # type: ignore[assignment]
    return dim


def load(model_dir: Path) -> nn.Module:
    """The backbone of a folder, with its weights (every one of them: a missing or extra name is an error)."""
    backbone = build(read_config(model_dir))
    weights = model_dir / WEIGHTS_FILE
    if not weights.is_file():
        raise BackboneError(f"no {WEIGHTS_FILE} in the image model folder")
    try:
        missing, unexpected = backbone.load_state_dict(load_file(str(weights)), strict=False)
    except RuntimeError as e:  # a tensor of another shape
        raise BackboneError(f"{WEIGHTS_FILE} does not fit the config: {str(e)[:300]}") from e
    if missing or unexpected:
        raise BackboneError(
            f"{WEIGHTS_FILE} does not fit the config: missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    return backbone


def save(backbone: nn.Module, model_dir: Path, config: dict[str, Any] | None = None) -> None:
    if config is None:
        config = dict(backbone.config)  # type: ignore[arg-type]
    model_dir.mkdir(parents=True, exist_ok=True)
    save_file(
        {name: value.detach().contiguous() for name, value in backbone.state_dict().items()},
        str(model_dir / WEIGHTS_FILE),
    )
    (model_dir / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))


def import_torchvision_weights(state: dict[str, torch.Tensor], config: dict[str, Any], model_dir: Path) -> None:
    """A released checkpoint (torchvision's or efficientnet_pytorch's names) as a folder: the ImageNet
    classifier dropped, everything else checked against the architecture."""
    backbone = build(config)
    kept = {name: value for name, value in state.items() if not name.startswith(("classifier.", "_fc."))}
    backbone.load_state_dict(kept, strict=True)
    save(backbone, model_dir, config)
