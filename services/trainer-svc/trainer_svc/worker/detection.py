"""One object detector's training job (the ``detector`` family): the snapshot's images and boxes (classes in the
train snapshot's order), a validation part held out of the training rows, the detector trained last layer or
full with the losses per epoch (``loss_cls``, ``loss_bbox``, ``loss``), then COCO's box metrics on the test
rows by pycocotools, the best and worst test images with their boxes drawn, artifacts, metrics, card, report."""

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
from PIL import Image, ImageDraw

from automl_proto.metrics import DetectionImage, DetectionReport, RunEvaluation, Selection
from modelkit import model_types
from modelkit.model_types.object_detection import ObjectDetection
from modelkit.model_types.object_detection import data as detection_data
from modelkit.model_types.object_detection.coco import ImageDetections, ImageTruth, evaluate, image_score
from modelkit.model_types.object_detection.training import EpochLosses, detect, evaluate_loss, fit
from modelkit.model_types.vision import FitSettings
from trainer_svc.worker.data import overlap
from trainer_svc.worker.job import BadInput
from trainer_svc.worker.vision import VisionJob

SHOWN_IMAGES = 4  # best and worst test images in the report
SHOWN_SIDE = 256


class DetectionJob(VisionJob):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        task = model_types.task(self.spec.model_type)
        assert isinstance(task, ObjectDetection)
        self.task = task
        heads = self.spec.train.heads
        if not heads:
            raise BadInput("the training snapshot lists no object classes")
        self.classes = [str(item["name"]) for item in heads[0]["classes"]]

    def read(self, path: Path) -> tuple[list[str], list[NDArray[np.float32]], list[NDArray[np.int64]], list[int]]:
        """A snapshot's images (sha256), boxes and class indexes; a class the training snapshot has not is left
        out of a test image's boxes (the model cannot know it)."""
        table = pq.read_table(path, columns=["row_id", "image_sha256", "boxes"])
        index = {name: position for position, name in enumerate(self.classes)}
        boxes, labels = [], []
        for cell in table.column("boxes").to_pylist():
            objects = [item for item in json.loads(cell or "[]") if item["label"] in index]
            boxes.append(np.array([item["box"] for item in objects], dtype=np.float32).reshape(-1, 4))
            labels.append(np.array([index[item["label"]] for item in objects], dtype=np.int64))
        return table.column("image_sha256").to_pylist(), boxes, labels, table.column("row_id").to_pylist()

    def run(self) -> None:
        spec, options = self.spec, self.options
        self.start()
        base_dir = self.base_model_dir()
        images, boxes, labels, row_ids = self.read(self.snapshot_file(spec.train.data_key, "train.parquet"))
        train_positions, test_positions = self.parts(len(images))
        if test_positions is None:
            assert spec.test is not None
            test_images, test_boxes, test_labels, test_rows = self.read(
                self.snapshot_file(spec.test.data_key, "test.parquet")
            )
        else:
            test_images = [images[p] for p in test_positions]
            test_boxes, test_labels = [boxes[p] for p in test_positions], [labels[p] for p in test_positions]
            test_rows = [row_ids[p] for p in test_positions]
        if not train_positions:
            raise BadInput("the training snapshot has no rows to train on")
        trained_images = [images[p] for p in train_positions]
        model, manifest = self.task.build(base_dir, self.classes, options, spec.method)
        size = manifest.image_size
        everything = detection_data.load(
            self.files(trained_images),
            [boxes[p] for p in train_positions],
            [labels[p] for p in train_positions],
            size,
        )
        test = detection_data.load(self.files(test_images), test_boxes, test_labels, size)
        kept, held = self.validation_part(len(everything))
        train, validation = everything.subset(kept), everything.subset(held)
        self.describe(model, len(train), len(validation), len(test), len(self.classes), size)
        settings = FitSettings.of(options)
        steps_per_epoch = -(-len(train) // settings.batch_size)

        def on_epoch(epoch: EpochLosses) -> None:
            self.report("epoch", "", step=epoch.epoch * steps_per_epoch, **vars(epoch))
            self.progress(epoch.epoch, epoch.loss, settings, len(train), started)

        started = time.monotonic()
        history = fit(
            model, train, validation if len(validation) else None, settings, manifest.normalise, on_epoch,
            self.should_stop,
        )  # fmt: skip
        seconds = time.monotonic() - started
        rate_s = max(seconds, 1e-6)
        found = detect(model, test.pixels, test.sizes, manifest.normalise)
        truths = [
            ImageTruth(int(width), int(height), raw, label)
            for (width, height), raw, label in zip(test.sizes, test_boxes, test_labels, strict=True)
        ]
        detections = [ImageDetections(item.boxes, item.scores, item.labels) for item in found]
        coco = evaluate(truths, detections, self.classes)
        test_loss = evaluate_loss(model, test, manifest.normalise, settings.batch_size) if len(test) else None
        scores = [image_score(truth, item) for truth, item in zip(truths, detections, strict=True)]
        ranked = sorted(range(len(scores)), key=lambda position: scores[position])

        def shown(p: int) -> DetectionImage:
            return self.shown(test, p, truths[p], detections[p], scores[p], test_rows[p])

        report = DetectionReport(
            metrics=coco.metrics,
            per_class=coco.per_class,
            pr_curves=coco.pr_curves,
            test_images=len(test),
            test_objects=int(sum(len(item) for item in test_labels)),
            best_images=[shown(p) for p in ranked[::-1][:SHOWN_IMAGES]],
            worst_images=[shown(p) for p in ranked[:SHOWN_IMAGES]],
        )
        last = history[-1] if history else None
        evaluation = RunEvaluation(
            report={"heads": {}, "overall": {"loss": test_loss[2] if test_loss else None}},
            baseline={},
            baseline_name="none (a detector has no trivial baseline: finding nothing scores 0)",
            delta={},
            epochs=[vars(epoch) for epoch in history],
            chosen_epoch=float(last.epoch) if last else None,
            chosen_step=(last.epoch * steps_per_epoch) if last else None,
            selection=Selection(name="last epoch", value=last.loss if last else None),
            stopped_early=False,
            kept_heads=[],
            training={
                "seconds": round(seconds, 3),
                "images_per_s": round(len(train) * len(history) / rate_s, 2),
            },
            leakage={"test_rows": len(test), "test_rows_in_training": overlap(trained_images, test_images)},
            detection=report,
        )
        self.publish(self.task, model, manifest, evaluation, self.card(report, history, seconds))
        summary = {name: report.metrics[name] for name in ("coco/bbox_mAP", "coco/bbox_mAP_50", "coco/bbox_mAP_75")}
        self.reporter.send("succeeded", "training finished", metrics=summary)

    @staticmethod
    def shown(
        test: detection_data.DetectionImages, position: int, truth: ImageTruth, found: ImageDetections, score: float,
        row: int,
    ) -> DetectionImage:  # fmt: skip
        """A test image with its boxes (green) and the detections scored 0.3 or more (red)."""
        return DetectionImage(row_id=row, score=round(score, 4), image=_drawn(test.pixels[position], truth, found))

    def card(self, report: DetectionReport, history: list[EpochLosses], seconds: float) -> str:
        spec = self.spec
        lines = [
            f"# {spec.model_name}",
            "",
            f"An object detector ({', '.join(self.classes)}) trained {spec.method} on {spec.base_model.name}, "
            f"from snapshot {spec.train.name} ({spec.train.row_count} images), in {seconds:.0f} s over "
            f"{len(history)} epochs.",
            "",
            "| metric | value |",
            "|---|---|",
            *(f"| {name} | {'n/a' if value is None else f'{value:.4f}'} |" for name, value in report.metrics.items()),
            "",
            "| class | AP | AP_50 |",
            "|---|---|---|",
            *(
                f"| {name} | {_shown(values.get('AP'))} | {_shown(values.get('AP_50'))} |"
                for name, values in report.per_class.items()
            ),
        ]
        return "\n".join(lines) + "\n"


def _shown(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _drawn(pixels: NDArray[np.uint8], truth: ImageTruth, found: ImageDetections) -> str:
    scale = SHOWN_SIDE / max(truth.width, truth.height, 1)
    shape = (max(1, round(truth.width * scale)), max(1, round(truth.height * scale)))
    canvas = Image.fromarray(pixels.transpose(1, 2, 0)).resize(shape, Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(canvas)
    for box in truth.boxes:
        draw.rectangle([float(value) * scale for value in box], outline=(0, 160, 0), width=2)
    for box, value in zip(found.boxes, found.scores, strict=True):
        if value >= 0.3:
            draw.rectangle([float(v) * scale for v in box], outline=(220, 0, 0), width=2)
    output = io.BytesIO()
    canvas.save(output, "JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(output.getvalue()).decode()
