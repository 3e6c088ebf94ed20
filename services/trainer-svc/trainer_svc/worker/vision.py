"""What the dense vision jobs (detection, segmentation) share: which of the training snapshot's rows are test
rows (a test snapshot, or the stored split), a validation part held out of the training rows, the fit settings
from the run's options, and publishing the model (its folder, ``model.json``, the evaluation, the card)."""

from __future__ import annotations

import json
import time

import numpy as np

from automl_common.storage import upload_directory, upload_file
from automl_proto.metrics import RunEvaluation
from modelkit.model_types.vision import BackboneHeadTask, FitSettings, HeadOnBackbone, Network, VisionManifest
from trainer_svc.worker.data import read_split
from trainer_svc.worker.job import BadInput, Job


class VisionJob(Job):
    def parts(self, count: int) -> tuple[list[int], list[int] | None]:
        """The positions of the training snapshot's rows to train on, and of its test rows (None: the test rows
        are the test snapshot's)."""
        spec = self.spec
        if spec.test is not None:
            return list(range(count)), None
        if spec.split_key is None:
            raise BadInput("the spec has neither a test snapshot nor a split")
        test = read_split(self.snapshot_file(spec.split_key, "split.parquet"))
        return np.flatnonzero(~test).tolist(), np.flatnonzero(test).tolist()

    def validation_part(self, count: int) -> tuple[list[int], list[int]]:
        """Positions among ``count`` training rows: those trained on, and those held out for validation."""
        order = np.random.default_rng(self.options.seed).permutation(count)
        held = max(1, round(count * self.options.validation_pct / 100)) if count > 4 else 0
        return order[held:].tolist(), order[:held].tolist()

    def describe(self, model: HeadOnBackbone, train: int, validation: int, test: int, classes: int, size: int) -> None:
        """The run's log line before training: its parts, classes, trainable weights and input size."""
        trainable = sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)
        self.report(
            "log",
            f"{train} training, {validation} validation and {test} test images; {classes} classes; "
            f"{trainable:,} trainable parameters; input {size} px",
        )

    def progress(self, epoch: int, loss: float, settings: FitSettings, examples: int, started: float) -> None:
        """The run's progress after an epoch (the model's progress line: epoch, step, loss, speed, time left)."""
        steps_per_epoch = -(-examples // settings.batch_size)
        elapsed = max(time.monotonic() - started, 1e-6)
        self.report(
            "progress", "", step=epoch * steps_per_epoch, total_steps=settings.max_epochs * steps_per_epoch,
            epoch=float(epoch), loss=round(loss, 6), examples_per_s=round(examples * epoch / elapsed, 2),
            eta_s=round(elapsed / epoch * (settings.max_epochs - epoch), 1),
        )  # fmt: skip

    def publish(
        self,
        task: BackboneHeadTask[Network],
        model: Network,
        manifest: VisionManifest,
        evaluation: RunEvaluation,
        card: str,
    ) -> None:
        spec = self.spec
        out = self.work / "artifacts"
        task.save(model, manifest, out)
        (out / "model.json").write_text(
            json.dumps({"model_type": spec.model_type, "method": spec.method, "base_model_id": spec.base_model.id})
        )
        self.io(upload_directory(self.store, out, self.layout.artifacts))
        self.upload_evaluation(evaluation)
        (self.work / "card.md").write_text(card)
        self.io(upload_file(self.store, self.work / "card.md", self.layout.card, content_type="text/markdown"))
