"""One semantic segmenter's training job (the ``segmenter`` family): the snapshot's images and masks (the class
names by index, as every row of the snapshot lists them), a validation part held out of the training rows, the
segmenter trained last layer or full with the guide's figures per epoch (``train_loss``, ``decode.loss_ce``,
``decode.acc_seg``), then ``aAcc``, ``mIoU`` and ``mAcc`` on the test rows with IoU and accuracy per class and
the pixel confusion matrix, the test images it gets most wrong drawn, artifacts, metrics, card, report."""

from __future__ import annotations

import base64
import io
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from numpy.typing import NDArray
from PIL import Image

from automl_common import palette
from automl_proto.metrics import RunEvaluation, SegmentationImage, SegmentationReport, Selection
from modelkit import model_types
from modelkit.model_types.semantic_segmentation import SemanticSegmentation
from modelkit.model_types.semantic_segmentation import data as segmentation_data
from modelkit.model_types.semantic_segmentation.metrics import SegmentationFigures, confusion, figures
from modelkit.model_types.semantic_segmentation.model import IGNORE_INDEX
from modelkit.model_types.semantic_segmentation.training import EpochFigures, evaluate, fit
from modelkit.model_types.semantic_segmentation.training import validation_loss as mean_loss
from modelkit.model_types.vision import FitSettings
from trainer_svc.worker.data import overlap
from trainer_svc.worker.job import BadInput
from trainer_svc.worker.vision import VisionJob

_COLOURS = np.array([palette.colour(index) for index in range(256)], dtype=np.uint8)
SHOWN_IMAGES = 4
SHOWN_SIDE = 192


class SegmentationJob(VisionJob):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        task = model_types.task(self.spec.model_type)
        assert isinstance(task, SemanticSegmentation)
        self.task = task

    @staticmethod
    def read(path: Path) -> tuple[list[str], list[str], list[int], list[str]]:
        """A snapshot's images and masks (sha256), row ids, and class names."""
        table = pq.read_table(path, columns=["row_id", "image_sha256", "mask_sha256", "classes"])
        names = table.column("classes").to_pylist()
        classes = [str(name) for name in json.loads(names[0])] if names else []
        return (
            table.column("image_sha256").to_pylist(),
            table.column("mask_sha256").to_pylist(),
            table.column("row_id").to_pylist(),
            classes,
        )

    def run(self) -> None:
        spec, options = self.spec, self.options
        self.start()
        base_dir = self.base_model_dir()
        images, masks, row_ids, classes = self.read(self.snapshot_file(spec.train.data_key, "train.parquet"))
        train_positions, test_positions = self.parts(len(images))
        if test_positions is None:
            assert spec.test is not None
            test_images, test_masks, test_rows, test_classes = self.read(
                self.snapshot_file(spec.test.data_key, "test.parquet")
            )
            if test_classes and test_classes != classes:
                raise BadInput(f"the test snapshot's classes {test_classes} are not the training snapshot's {classes}")
        else:
            test_images, test_masks = [images[p] for p in test_positions], [masks[p] for p in test_positions]
            test_rows = [row_ids[p] for p in test_positions]
        if not train_positions or not classes:
            raise BadInput("the training snapshot has no rows to train on")
        trained_images = [images[p] for p in train_positions]
        model, manifest = self.task.build(base_dir, classes, options, spec.method)
        size = manifest.image_size
        everything = segmentation_data.load(
            self.files(trained_images), self.files([masks[p] for p in train_positions]), size
        )
        test = segmentation_data.load(self.files(test_images), self.files(test_masks), size)
        kept, held = self.validation_part(len(everything))
        train, validation = everything.subset(kept), everything.subset(held)
        self.describe(model, len(train), len(validation), len(test), len(classes), size)
        settings = FitSettings.of(options)
        steps_per_epoch = -(-len(train) // settings.batch_size)

        def on_epoch(epoch: EpochFigures) -> None:
            named: dict[str, Any] = epoch.named()
            self.report("epoch", "", step=epoch.epoch * steps_per_epoch, **named)
            self.progress(epoch.epoch, epoch.train_loss, settings, len(train), started)

        started = time.monotonic()
        history = fit(
            model, train, validation if len(validation) else None, settings, manifest.normalise, on_epoch,
            self.should_stop,
        )  # fmt: skip
        seconds = time.monotonic() - started
        matrix, predicted = evaluate(model, test, manifest.normalise, settings.batch_size)
        found = figures(matrix)
        test_loss = mean_loss(model, test, manifest.normalise, settings.batch_size) if len(test) else None
        scores = [
            _pixel_accuracy(truth, mask, len(classes)) for truth, mask in zip(test.originals, predicted, strict=True)
        ]
        worst = sorted(range(len(scores)), key=lambda position: scores[position])[:SHOWN_IMAGES]
        report = SegmentationReport(
            metrics={"aAcc": found.aAcc, "mIoU": found.mIoU, "mAcc": found.mAcc},
            classes=classes,
            per_class={
                name: {"IoU": found.iou[index], "Acc": found.acc[index], "pixels": found.pixels[index]}
                for index, name in enumerate(classes)
            },
            confusion_matrix=matrix.tolist(),
            test_images=len(test),
            worst_images=[
                SegmentationImage(
                    row_id=test_rows[p],
                    score=round(scores[p], 4),
                    image=_drawn(test.pixels[p], test.originals[p], predicted[p], len(classes)),
                )
                for p in worst
            ],
        )
        last = history[-1] if history else None
        evaluation = RunEvaluation(
            report={"heads": {}, "overall": {"loss": test_loss}},
            baseline={},
            baseline_name="none (every pixel as the commonest class is in the confusion matrix's first row)",
            delta={},
            epochs=[epoch.named() for epoch in history],
            chosen_epoch=float(last.epoch) if last else None,
            chosen_step=(last.epoch * steps_per_epoch) if last else None,
            selection=Selection(name="last epoch", value=last.train_loss if last else None),
            stopped_early=False,
            kept_heads=[],
            training={
                "seconds": round(seconds, 3),
                "images_per_s": round(len(train) * len(history) / max(seconds, 1e-6), 2),
            },
            leakage={"test_rows": len(test), "test_rows_in_training": overlap(trained_images, test_images)},
            segmentation=report,
        )
        self.publish(self.task, model, manifest, evaluation, self.card(found, classes, history, seconds))
        self.reporter.send("succeeded", "training finished", metrics=dict(report.metrics))

    def card(self, found: SegmentationFigures, classes: list[str], history: list[EpochFigures], seconds: float) -> str:
        spec = self.spec
        lines = [
            f"# {spec.model_name}",
            "",
            f"A semantic segmenter ({', '.join(classes)}) trained {spec.method} on {spec.base_model.name}, from "
            f"snapshot {spec.train.name} ({spec.train.row_count} images), in {seconds:.0f} s over {len(history)} "
            "epochs.",
            "",
            "| metric | value |",
            "|---|---|",
            f"| aAcc | {found.aAcc:.4f} |",
            f"| mIoU | {found.mIoU:.4f} |",
            f"| mAcc | {found.mAcc:.4f} |",
            "",
            "| class | IoU | Acc |",
            "|---|---|---|",
            *(
                f"| {name} | {_shown(found.iou[index])} | {_shown(found.acc[index])} |"
                for index, name in enumerate(classes)
            ),
        ]
        return "\n".join(lines) + "\n"


def _shown(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _pixel_accuracy(truth: NDArray[np.uint8], predicted: NDArray[np.uint8], num_classes: int) -> float:
    matrix = confusion(truth, predicted, num_classes)
    total = int(matrix.sum())
    return float(np.trace(matrix) / total) if total else 1.0


def overlay(pixels: NDArray[np.uint8], mask: NDArray[np.uint8]) -> Image.Image:
    """The image (3, s, s) with the mask's classes coloured over it at half strength."""
    image = Image.fromarray(pixels.transpose(1, 2, 0))
    resized = np.asarray(Image.fromarray(mask).resize(image.size, Image.Resampling.NEAREST))
    colours = _COLOURS[resized]
    base = np.asarray(image, dtype=np.float32)
    shaded = np.where(((resized > 0) & (resized != IGNORE_INDEX))[..., None], 0.5 * base + 0.5 * colours, base)
    return Image.fromarray(shaded.astype(np.uint8))


def _drawn(pixels: NDArray[np.uint8], truth: NDArray[np.uint8], predicted: NDArray[np.uint8], num_classes: int) -> str:
    left, right = overlay(pixels, truth), overlay(pixels, predicted)
    side = SHOWN_SIDE
    canvas = Image.new("RGB", (2 * side + 4, side), (255, 255, 255))
    canvas.paste(left.resize((side, side)), (0, 0))
    canvas.paste(right.resize((side, side)), (side + 4, 0))
    output = io.BytesIO()
    canvas.save(output, "JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(output.getvalue()).decode()
