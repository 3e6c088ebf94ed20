"""Image classification in modelkit: decoding (EXIF, modes, resize and centre crop, limits), augmentations,
the backbones against the weights that ship for them, and training a tiny network end to end."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from automl_proto.models import TrainingOptions
from modelkit import artifacts, model_types
from modelkit.classifier import ClassifierSpec, HeadConfig
from modelkit.losses import HeadTargets
from modelkit.model_types.base import Preprocessor
from modelkit.model_types.image_classification import backbones
from modelkit.model_types.image_classification.images import ImageError, decode, open_image
from modelkit.model_types.image_classification.tensors import Augment, ImageTensors
from modelkit.predict import ClassifierPredictor
from modelkit.training.data import Examples
from modelkit.training.trainer import embed, fit, head_scores
from tests.support.images import COLOURS, labelled_images
from tests.support.loop import Hooks
from tests.support.tiny_models import build_tiny_image_model
from trainer_svc.base_models.builtin import BUILTINS

IMAGES = model_types.classifier("image_classification")


def encoded(image: Image.Image, fmt: str = "PNG", **save: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **save)
    return out.getvalue()


def test_exif_orientation_is_applied() -> None:
    image = Image.new("RGB", (40, 20), (255, 0, 0))
    image.paste((0, 0, 255), (20, 0, 40, 20))  # left red, right blue
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was turned: rotate 90 degrees clockwise to view
    pixels = decode(encoded(image, "JPEG", exif=exif.tobytes(), quality=95), 16)
    top, bottom = pixels[:, 2, 8], pixels[:, 13, 8]
    assert top[0] > 200 and top[2] < 60, top  # red is on top once upright
    assert bottom[2] > 200 and bottom[0] < 60, bottom


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (Image.new("L", (10, 10), 90), (90, 90, 90)),
        (Image.new("RGBA", (10, 10), (0, 0, 0, 0)), (255, 255, 255)),  # transparent over white
        (Image.new("RGB", (10, 10), (10, 200, 30)).convert("P", palette=Image.Palette.ADAPTIVE), (10, 200, 30)),
        (Image.new("CMYK", (10, 10), (0, 255, 255, 0)), (255, 0, 0)),
    ],
)
def test_modes_become_rgb(image: Image.Image, expected: tuple[int, int, int]) -> None:
    fmt = "JPEG" if image.mode == "CMYK" else "PNG"
    pixels = decode(encoded(image, fmt), 8)
    assert pixels.shape == (3, 8, 8) and pixels.dtype == np.uint8
    assert np.abs(pixels[:, 4, 4].astype(int) - np.array(expected)).max() <= 3, pixels[:, 4, 4]


def test_resize_then_centre_crop() -> None:
    image = Image.new("RGB", (60, 20), (255, 0, 0))
    image.paste((0, 255, 0), (20, 0, 40, 20))  # only the middle third is green
    pixels = decode(encoded(image), 16)
    assert pixels.shape == (3, 16, 16)
    assert (pixels[1] > 200).all() and (pixels[0] < 60).all()  # the crop is the green centre


def test_what_is_not_an_image_or_too_large_is_refused() -> None:
    with pytest.raises(ImageError, match="not an image"):
        open_image(b"<html>hello</html>")
    with pytest.raises(ImageError, match="broken image"):
        open_image(encoded(Image.new("RGB", (64, 64), (1, 2, 3)))[:60])
    big = encoded(Image.new("L", (3000, 2000)))
    with pytest.raises(ImageError, match="3000x2000 pixels; at most 5,000,000 pixels"):
        open_image(big, max_pixels=5_000_000)


def test_augmentations_are_seeded_and_keep_the_shape() -> None:
    pixels = np.stack([decode(data, 32) for _, data in labelled_images(4)])
    inputs = ImageTensors(pixels, (0.5,) * 3, (0.5,) * 3, Augment())
    plain = inputs.batch([0, 1, 2, 3])["pixels"]
    torch.manual_seed(7)
    first = inputs.batch([0, 1, 2, 3], training=True)["pixels"]
    torch.manual_seed(7)
    again = inputs.batch([0, 1, 2, 3], training=True)["pixels"]
    assert first.shape == plain.shape == (4, 3, 32, 32)
    assert torch.equal(first, again)
    assert not torch.allclose(first, plain)
    assert first.min() >= -1 and first.max() <= 1  # still within [0, 1] before normalising


@pytest.mark.parametrize("builtin", ["mobilenet-v2", "efficientnet-lite0"])
def test_the_shipped_weights_load_into_the_backbones(tmp_path: Path, builtin: str) -> None:
    """Every tensor of the released checkpoint (ImageNet classifier aside) has its place, by name and shape."""
    BUILTINS[builtin].materialise(tmp_path / builtin)
    IMAGES.check_base_model(tmp_path / builtin)
    backbone = backbones.load(tmp_path / builtin).eval()
    assert sum(p.numel() for p in backbone.parameters()) > 2_000_000
    with torch.no_grad():
        features = backbone(torch.zeros(2, 3, 224, 224))
    assert features.shape == (2, 1280) and torch.isfinite(features).all()


def test_a_folder_that_does_not_fit_its_config_is_refused(tmp_path: Path) -> None:
    folder = build_tiny_image_model(tmp_path / "tiny")
    (folder / "config.json").write_text('{"model_type": "mobilenet_v2", "width_mult": 0.5}')
    with pytest.raises(model_types.ModelTypeError, match="does not fit the config"):
        IMAGES.check_base_model(folder)
    (folder / "config.json").write_text('{"model_type": "resnet50"}')
    with pytest.raises(model_types.ModelTypeError, match="unknown image backbone 'resnet50'"):
        IMAGES.check_base_model(folder)


def test_lora_is_refused_for_images(tmp_path: Path) -> None:
    base = build_tiny_image_model(tmp_path / "tiny")
    model = IMAGES.classifier(
        IMAGES.load_encoder(base), ClassifierSpec([HeadConfig("c", ["a", "b"])], IMAGES.encoder_config(base))
    )
    with pytest.raises(model_types.ModelTypeError, match="'lora' is not available for image_classification models"):
        IMAGES.apply_method(model, "lora")


def colour_examples(preprocessor: Preprocessor, count: int, seed: int) -> tuple[Examples, list[bytes]]:
    rows = labelled_images(count, seed)
    names = sorted(COLOURS)
    labels = np.array([names.index(name) for name, _ in rows])
    channels = np.array([[int(c in COLOURS[name][1]) for c in "rgb"] for name, _ in rows])
    raw = [data for _, data in rows]
    return Examples(preprocessor.encode(raw), [HeadTargets(labels, False), HeadTargets(channels, True)]), raw


@pytest.mark.parametrize("method", ["last_layer", "full"])
def test_a_tiny_network_learns_colours_and_its_artifacts_predict_the_same(tmp_path: Path, method: str) -> None:
    base = build_tiny_image_model(tmp_path / "tiny")
    options = TrainingOptions(max_epochs=60 if method == "last_layer" else 8, augment=method == "full", seed=1)
    options = options.resolved(method)
    preprocessor = IMAGES.preprocessor(base, options)
    train, _ = colour_examples(preprocessor, 96, seed=1)
    test, raw = colour_examples(preprocessor, 24, seed=2)
    spec = ClassifierSpec(
        [HeadConfig("colour", sorted(COLOURS)), HeadConfig("channels", list("rgb"), multilabel=True)],
        IMAGES.encoder_config(base),
    )
    torch.manual_seed(0)
    model = IMAGES.classifier(IMAGES.load_encoder(base), spec)
    IMAGES.apply_method(model, method)
    if method == "full":
        options = options.model_copy(update={"learning_rate": 1e-2})
    fit(model, method, options, train, test, Hooks())
    scores = head_scores(model, embed(model, test.inputs))
    accuracy = (scores[0].argmax(axis=1) == test.targets[0].values).mean()
    assert accuracy >= 0.9, accuracy
    manifest = artifacts.ArtifactManifest(method, "tiny", "0" * 64, spec, model_type="image_classification")
    artifacts.save(model, manifest, preprocessor, tmp_path / "out")
    predictor = ClassifierPredictor.load(tmp_path / "out", base if method != "full" else None)
    assert np.allclose(predictor.scores(raw)[0], scores[0], atol=1e-5)
    assert predictor.predict(raw[:1])[0]["heads"]["colour"]["predicted"] == [sorted(COLOURS)[test.targets[0].values[0]]]
