"""The segmenter: its figures against hand-computed ones (MMSegmentation's definitions), masks that move with
their image, a tiny network that learns to paint squares and bars, and its predictor's PNG at the input's size."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
import torch
from PIL import Image

from automl_proto.models import TrainingOptions
from modelkit.model_types.object_detection.training import FitSettings
from modelkit.model_types.semantic_segmentation import SemanticSegmentation
from modelkit.model_types.semantic_segmentation import data as segmentation_data
from modelkit.model_types.semantic_segmentation.metrics import confusion, figures
from modelkit.model_types.semantic_segmentation.predict import SegmenterPredictor
from modelkit.model_types.semantic_segmentation.training import evaluate, fit
from tests.support.segmentation import LABELS, mask_of, png, scenes
from tests.support.tiny_models import build_tiny_image_model


def test_the_figures_are_the_hand_computed_ones():
    truth = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 255, 255]], dtype=np.uint8)
    predicted = np.array([[0, 1, 1, 1], [0, 0, 0, 1], [2, 0, 2, 0]], dtype=np.uint8)
    matrix = confusion(truth, predicted, 4)
    # truth 0: 3 right, 1 as 1; truth 1: 3 right, 1 as 0; truth 2: 1 right, 1 as 0; the 255s are not scored
    assert matrix.tolist() == [[3, 1, 0, 0], [1, 3, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]
    found = figures(matrix)
    assert found.aAcc == pytest.approx(7 / 10)
    # IoU: 0 -> 3 / (4 + 5 - 3); 1 -> 3 / (4 + 4 - 3); 2 -> 1 / (2 + 1 - 1); class 3 in neither: left out
    assert found.iou[:3] == [pytest.approx(3 / 6), pytest.approx(3 / 5), pytest.approx(1 / 2)]
    assert found.iou[3] is None and found.acc[3] is None
    assert found.mIoU == pytest.approx((3 / 6 + 3 / 5 + 1 / 2) / 3)
    assert found.acc[:3] == [pytest.approx(3 / 4), pytest.approx(3 / 4), pytest.approx(1 / 2)]
    assert found.mAcc == pytest.approx((3 / 4 + 3 / 4 + 1 / 2) / 3)
    assert found.pixels == [4, 4, 2, 0]


def test_a_class_predicted_but_absent_counts_in_miou_with_iou_zero():
    found = figures(confusion(np.zeros((2, 2), np.uint8), np.array([[0, 1], [0, 0]], np.uint8), 2))
    assert found.iou == [pytest.approx(3 / 4), 0.0] and found.acc == [pytest.approx(3 / 4), None]
    assert found.mIoU == pytest.approx(3 / 8) and found.mAcc == pytest.approx(3 / 4)


def test_augmentation_moves_the_mask_with_the_image():
    augment = segmentation_data.MaskAugment(seed=0)
    pixels = torch.zeros(3, 64, 64)
    pixels[:, 10:20, 40:60] = 255.0
    mask = torch.zeros(64, 64, dtype=torch.uint8)
    mask[10:20, 40:60] = 2
    for _ in range(20):
        moved, moved_mask = augment(pixels, mask)
        assert moved_mask.dtype == torch.uint8 and set(moved_mask.unique().tolist()) <= {0, 2}
        painted = moved_mask == 2
        if painted.sum() > 20:
            assert float(moved[0][painted].mean()) > 180


def _images(count: int, seed: int, size: int = 64) -> segmentation_data.SegmentationImages:
    made = scenes(count, size=size, seed=seed)
    return segmentation_data.load(
        [scene.png(index) for index, scene in enumerate(made)], [png(mask_of(scene)) for scene in made], 64
    )


def test_a_tiny_segmenter_learns_to_paint_squares_and_bars(tmp_path):
    base = build_tiny_image_model(tmp_path / "base")
    task = SemanticSegmentation()
    model, manifest = task.build(base, LABELS, TrainingOptions(image_size=64), "full")
    train, test = _images(64, seed=1), _images(16, seed=2, size=96)  # test images larger than the input
    settings = FitSettings(max_epochs=12, batch_size=16, learning_rate=1e-2, augment=False)
    history = fit(model, train, test, settings, manifest.normalise)
    assert history[-1].train_loss < history[0].train_loss / 2
    assert history[-1].acc_seg > 0.9 and history[-1].val_loss is not None
    matrix, predicted = evaluate(model, test, manifest.normalise)
    assert predicted[0].shape == (96, 96) and int(matrix.sum()) == 16 * 96 * 96
    found = figures(matrix)
    assert found.aAcc > 0.9 and found.mIoU > 0.5, found  # a random 2-block backbone

    task.save(model, manifest, tmp_path / "model")
    predictor = SegmenterPredictor.load(tmp_path / "model")
    image = scenes(1, size=80, seed=5)[0]
    [answer] = predictor.predict([image.png()])
    mask = Image.open(io.BytesIO(base64.b64decode(answer["mask_png_base64"])))
    assert mask.mode == "L" and mask.size == (80, 80)
    assert answer["classes"] == LABELS and sum(answer["pixel_shares"].values()) == pytest.approx(1, abs=1e-4)
    assert set(np.unique(np.asarray(mask)).tolist()) <= {0, 1, 2}


def test_the_last_layer_method_trains_the_head_only(tmp_path):
    base = build_tiny_image_model(tmp_path / "base")
    model, manifest = SemanticSegmentation().build(base, LABELS, TrainingOptions(image_size=64), "last_layer")
    backbone = {name: value.clone() for name, value in model.backbone.state_dict().items()}
    settings = FitSettings(max_epochs=3, batch_size=16, learning_rate=1e-2, augment=True)
    history = fit(model, _images(32, seed=1), None, settings, manifest.normalise)
    assert history[-1].train_loss < history[0].train_loss
    assert all(torch.equal(value, model.backbone.state_dict()[name]) for name, value in backbone.items())


def test_a_colour_mask_is_refused():
    with pytest.raises(ValueError, match="one channel"):
        segmentation_data.read_mask(png(np.zeros((4, 4, 3), np.uint8), mode="RGB"))
