"""What every training driver shares: the job's plumbing (its event reporter, store, signals, working folder),
fetching the base model and the snapshot's files, and checkpoints. A model family's driver (``classifier``,
``llm``) subclasses ``Job`` with its own ``run``."""

from __future__ import annotations

import asyncio
import shutil
import signal
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import torch

from automl_common.storage import (
    ObjectNotFound,
    ObjectStore,
    download_file,
    download_prefix,
    image_key,
    upload_file,
)
from automl_proto.metrics import RunEvaluation
from automl_proto.models import TrainingOptions
from automl_proto.training import EventKind, JobSpec, RunLayout
from modelkit import model_types
from modelkit.training.distributed import World
from trainer_svc.worker.reporter import EventReporter
from trainer_svc.worker.settings import WorkerSettings

FILE_DOWNLOADS = 16


class BadInput(Exception):
    """The spec or its data cannot be trained on: another attempt would fail the same way."""


class Job(ABC):
    def __init__(
        self,
        spec: JobSpec,
        settings: WorkerSettings,
        store: ObjectStore,
        reporter: EventReporter,
        world: World | None = None,
    ) -> None:
        self.spec = spec
        self.settings = settings
        self.store = store
        self.reporter = reporter
        self.world = world or World()
        self.runner = asyncio.Runner()
        self.stop_requested = False
        self.last_checkpoint = time.monotonic()
        self.work = Path(tempfile.mkdtemp(prefix="automl-job-"))
        self.options = spec.options.resolved(
            spec.method, model_types.info(spec.model_type).method_defaults.get(spec.method)
        )

    @abstractmethod
    def run(self) -> None:
        """Train, evaluate, write the outputs and report ``succeeded``; raise to fail."""

    def start(self) -> None:
        signal.signal(signal.SIGTERM, self.on_sigterm)
        if self.settings.threads:
            torch.set_num_threads(self.settings.threads)
        self.report(
            "started",
            f"attempt {self.spec.attempt}",
            options=self.options,
            attempt=self.spec.attempt,
            world_size=self.world.size,
        )

    # -- plumbing ---------------------------------------------------------------------------------------
    def io(self, coroutine: Any) -> Any:
        return self.runner.run(coroutine)

    def on_sigterm(self, _signum: int, _frame: FrameType | None) -> None:
        self.stop_requested = True

    def should_stop(self) -> bool:
        """Cancelled (trainer-svc's answer to an event says so): stop, no checkpoint."""
        return self.reporter.cancelled

    def upload_evaluation(self, evaluation: RunEvaluation) -> None:
        """``metrics.json``, as trainer-svc reads it back (the same type)."""
        (self.work / "metrics.json").write_text(evaluation.model_dump_json())
        self.io(
            upload_file(self.store, self.work / "metrics.json", self.layout.metrics, content_type="application/json")
        )

    def report(
        self, kind: EventKind, message: str = "", *, options: TrainingOptions | None = None, **data: Any
    ) -> None:
        if self.world.leader:
            self.reporter.send(kind, message, options=options, **data)

    def checkpoint_due(self, step: int) -> bool:
        every_steps, every_s = self.settings.checkpoint_every_steps, self.settings.checkpoint_every_s
        if every_steps and step % every_steps == 0:
            return True
        return bool(every_s) and time.monotonic() - self.last_checkpoint >= every_s

    @property
    def layout(self) -> RunLayout:
        return RunLayout(self.spec.output_prefix)

    def close(self) -> None:
        self.runner.close()
        shutil.rmtree(self.work, ignore_errors=True)

    # -- inputs ---------------------------------------------------------------------------------------------
    def base_model_dir(self) -> Path:
        target = self.settings.cache_dir.resolve() / "base-models" / self.spec.base_model.sha256
        if not target.is_dir():
            self.report("log", f"downloading base model {self.spec.base_model.name}")
            self.io(download_prefix(self.store, self.spec.base_model.store_prefix, target))
        return target

    def snapshot_file(self, data_key: str, name: str) -> Path:
        path = self.work / name
        try:
            self.io(download_file(self.store, data_key, path))
        except ObjectNotFound as error:
            raise BadInput(f"the snapshot file {data_key} is gone: {error}") from error
        return path

    def files(self, sha256s: Sequence[str]) -> list[Path]:
        """A snapshot's images (by content hash) from the org's part of the store, cached across runs; the
        missing ones fetched concurrently (``FILE_DOWNLOADS`` at a time)."""
        folder = self.settings.cache_dir.resolve() / "files" / self.spec.org_id
        paths = [folder / sha256 for sha256 in sha256s]
        missing = {path.name: path for path in paths if not path.is_file()}
        limit = asyncio.Semaphore(FILE_DOWNLOADS)

        async def fetch(sha256: str, path: Path) -> None:
            async with limit:
                try:
                    await download_file(self.store, image_key(self.spec.org_id, sha256), path)
                except ObjectNotFound as error:
                    raise BadInput(f"the image {sha256} of the snapshot is gone from the store: {error}") from error

        async def fetch_all() -> None:
            await asyncio.gather(*(fetch(sha256, path) for sha256, path in missing.items()))

        if missing:
            self.io(fetch_all())
        return paths

    def load_checkpoint(self) -> dict[str, Any] | None:
        path = self.work / "checkpoint.pt"
        try:
            self.io(download_file(self.store, self.layout.checkpoint, path))
        except ObjectNotFound:
            return None
        checkpoint: dict[str, Any] = torch.load(path, weights_only=True, map_location="cpu")
        path.unlink()
        where = f"step {checkpoint['step']} (epoch {checkpoint['epoch']}, batch {checkpoint.get('batch', 0)})"
        self.report(
            "resumed",
            f"resuming after {where} on {self.world.size} process(es)",
            epoch=checkpoint["epoch"],
            step=checkpoint["step"],
            batch=checkpoint.get("batch", 0),
            world_size=self.world.size,
        )
        return checkpoint

    def save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """The store replaces ``last.pt`` whole: a kill mid-upload leaves the previous checkpoint."""
        path = self.work / "checkpoint.pt"
        torch.save(checkpoint, path)
        self.io(upload_file(self.store, path, self.layout.checkpoint))
        path.unlink()
        self.last_checkpoint = time.monotonic()
        where = f"epoch {checkpoint['epoch']}" + (f", batch {checkpoint['batch']}" if checkpoint.get("batch") else "")
        self.report(
            "checkpoint",
            f"step {checkpoint['step']} saved ({where})",
            epoch=checkpoint["epoch"],
            step=checkpoint["step"],
            batch=checkpoint.get("batch", 0),
        )


def hyperparameters(method: str, options: TrainingOptions, total_steps: int, eval_batch: Any) -> dict[str, Any]:
    """What the model card lists of how a run trained."""
    stopping = options.early_stopping
    return {
        "method": method,
        "learning_rate": options.learning_rate,
        "head_learning_rate": options.head_learning_rate,
        "train_batch_size": options.batch_size,
        "eval_batch_size": eval_batch,
        "seed": options.seed,
        "epochs": options.max_epochs,
        "max_length": options.max_length,
        "optimizer": {"name": "AdamW", "betas": (0.9, 0.999), "epsilon": 1e-8, "weight_decay": options.weight_decay},
        "scheduler": {"name": "linear", "warmup_steps": int(total_steps * options.warmup_ratio)},
        "early_stopping": (
            {"patience": stopping.patience, "min_delta": stopping.min_delta}
            if stopping
            else {"patience": "off", "min_delta": "n/a"}
        ),
        "class_weights": options.class_weights,
        "lora": options.lora.model_dump() if method == "lora" else None,
    }


class LoopHooks:
    """The shared training loop's hooks, through the job."""

    def __init__(self, job: Job) -> None:
        self.job = job

    def progress(self, progress: dict[str, Any]) -> None:
        self.job.report("progress", "", **progress)

    def evaluated(self, record: dict[str, Any]) -> None:
        self.job.report("epoch", "", **record)

    def checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.job.save_checkpoint(checkpoint)

    def checkpoint_due(self, step: int) -> bool:
        return self.job.checkpoint_due(step)

    def should_stop(self) -> bool:
        return self.job.should_stop()

    def interrupted(self) -> bool:
        return self.job.stop_requested
