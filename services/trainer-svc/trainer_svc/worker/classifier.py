"""One classifier's training job, start to finish: fetch, pre-process, build, train (resuming from a
checkpoint), evaluate, write the artifacts, metrics and card, report. What depends on the model type (reading
its inputs, pre-processing them, its encoder) comes from the registry (``modelkit.model_types``); this module is its
driver.

Under torch.distributed every rank runs this; rank 0 prepares the inputs first (downloads, the cache of
pre-processed inputs) while the others wait, then each rank loads them; rank 0 alone reports events, writes
checkpoints and, once training is over, evaluates and writes the outputs."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from automl_common.storage import (
    download_prefix,
    upload_directory,
    upload_file,
)
from automl_proto.metrics import RunEvaluation, Selection
from modelkit import artifacts, model_types
from modelkit.card import CardInputs, render_model_card
from modelkit.classifier import ClassifierSpec, HeadConfig, MultiHeadClassifier
from modelkit.model_types.base import Preprocessor
from modelkit.training.data import Examples, ModelInputs, validation_split
from modelkit.training.embedding_cache import EmbeddingCache, row_key
from modelkit.training.loop import resolve_precision
from modelkit.training.selection import selection_name
from modelkit.training.trainer import INFERENCE_BATCH, fit
from trainer_svc.worker.data import SnapshotRows, heads_of, overlap, read_rows, read_split
from trainer_svc.worker.evaluation import evaluate_run, hardest_examples
from trainer_svc.worker.job import BadInput, Job, LoopHooks, hyperparameters

logger = logging.getLogger("automl.worker")


@dataclass
class Inputs:
    """What a rank trains and evaluates on, once its inputs are fetched and pre-processed."""

    model: MultiHeadClassifier
    preprocessor: Preprocessor
    base_dir: Path
    parent_dir: Path | None
    kept: list[str]  # a parent's heads kept as they were
    train: Examples
    validation: Examples
    test: Examples
    test_rows: SnapshotRows
    overlap: int = 0  # test rows whose input is also a training row's (leakage)
    cache: EmbeddingCache | None = None  # the frozen encoder's embeddings kept between runs (last layer)


class ClassifierJob(Job):
    """Trains a multi-head classifier (every classification type)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.task = model_types.classifier(self.spec.model_type)

    # -- inputs -----------------------------------------------------------------------------------------
    def encoded(self, preprocessor: Preprocessor, raw: list[Any], content: str) -> ModelInputs:
        """Pre-processed inputs (token ids, decoded pixels), cached by (type, base model, rows, pre-processing
        settings): a retry or a sibling model skips this."""
        key = f"{self.spec.model_type}:{self.spec.base_model.sha256}:{content}:{preprocessor.cache_key()}"
        digest = hashlib.sha256(key.encode()).hexdigest()
        path = self.settings.cache_dir.resolve() / "inputs" / f"{digest}.npz"
        if path.is_file():
            return preprocessor.load_inputs(path)
        try:
            inputs = preprocessor.encode(raw)
        except model_types.ModelTypeError as error:  # an input the type cannot read (a corrupt image)
            raise BadInput(f"the snapshot holds an input that cannot be used: {error}") from error
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.stem}.{time.time_ns()}.npz")
        inputs.save(partial)
        partial.replace(path)
        return inputs

    def embedding_cache(self, preprocessor: Preprocessor, parent_dir: Path | None) -> EmbeddingCache | None:
        """Where a last-layer run keeps its frozen encoder's embeddings for the next run on the same base model
        (a head retrained on an edited dataset embeds only the rows that changed): in the org's own folder, by
        type, base model, pre-processing, precision and device. None where the encoder trains, or is a parent's
        fine-tuned one."""
        if self.spec.method != "last_layer" or self.settings.embedding_cache_bytes == 0:
            return None
        if parent_dir is not None and artifacts.ArtifactManifest.read(parent_dir).method != "last_layer":
            return None
        device = self.world.device()
        identity = ":".join(
            (
                self.spec.model_type,
                self.spec.base_model.sha256,
                preprocessor.cache_key(),
                resolve_precision(self.options.precision, device),
                device.type,
            )
        )
        root = self.settings.cache_dir.resolve() / "embeddings" / self.spec.org_id
        return EmbeddingCache(root, identity, self.settings.embedding_cache_bytes)

    def parent_dir(self) -> Path | None:
        if self.spec.parent is None:
            return None
        target = self.work / "parent"
        self.io(download_prefix(self.store, self.spec.parent.artifacts_prefix, target))
        return target

    # -- the model ------------------------------------------------------------------------------------
    def build(
        self, base_dir: Path, heads: list[HeadConfig], parent_dir: Path | None
    ) -> tuple[MultiHeadClassifier, list[str]]:
        """The classifier with its trainable parameters set. With a parent: the parent's encoder, its heads'
        weights where the class names match, its other heads appended and frozen (kept bit-identical)."""
        torch.manual_seed(self.options.seed)
        task = self.task
        encoder_config = task.encoder_config(base_dir)
        kept: list[str] = []
        parent_manifest = artifacts.ArtifactManifest.read(parent_dir) if parent_dir else None
        if parent_manifest is not None:
            names = {head.name for head in heads}
            for head in parent_manifest.spec.heads:
                if head.name not in names:
                    heads.append(head)
                    kept.append(head.name)
        spec = ClassifierSpec(heads, encoder_config)
        if parent_manifest is not None and parent_manifest.model_type != self.spec.model_type:
            raise BadInput(f"the parent is a {parent_manifest.model_type} model, this run {self.spec.model_type}")
        if parent_dir is not None and parent_manifest is not None and parent_manifest.method == "full":
            encoder = task.load_encoder(parent_dir / "encoder")
        else:
            encoder = task.load_encoder(base_dir)
        model = task.classifier(encoder, spec)
        if parent_dir is not None and parent_manifest is not None and parent_manifest.method == "lora":
            from peft import PeftModel

            model.encoder = PeftModel.from_pretrained(encoder, str(parent_dir / "adapter"), is_trainable=True)
            model.heads.requires_grad_(True)
        else:
            task.apply_method(model, self.spec.method, self.options.lora)
        if parent_dir is not None and parent_manifest is not None:
            self._inherit_heads(model, parent_dir, parent_manifest)
            for index, head in enumerate(spec.heads):
                if head.name in kept:
                    model.heads[index].requires_grad_(False)
        return model, kept

    @staticmethod
    def _inherit_heads(model: MultiHeadClassifier, parent_dir: Path, manifest: artifacts.ArtifactManifest) -> None:
        from safetensors.torch import load_file

        state = load_file(str(parent_dir / "heads.safetensors"))
        parent_heads = {head.name: (index, head) for index, head in enumerate(manifest.spec.heads)}
        with torch.no_grad():
            for index, head in enumerate(model.spec.heads):
                if head.name not in parent_heads:
                    continue
                parent_index, parent_head = parent_heads[head.name]
                weight, bias = state[f"heads.{parent_index}.weight"], state[f"heads.{parent_index}.bias"]
                layer = model.heads[index]
                assert isinstance(layer, torch.nn.Linear)
                for row, name in enumerate(head.classes):
                    if name in parent_head.classes:
                        source = parent_head.classes.index(name)
                        layer.weight[row].copy_(weight[source])
                        layer.bias[row].copy_(bias[source])
                if head.thresholds is None:
                    head.thresholds = parent_head.thresholds

    # -- training ---------------------------------------------------------------------------------------
    def run(self) -> None:
        spec = self.spec
        self.start()
        if self.world.leader:  # rank 0 downloads and fills the caches; the others then find them there
            inputs = self.prepare()
            self.world.barrier()
        else:
            self.world.barrier()
            inputs = self.prepare()
        self.report(
            "log",
            f"{len(inputs.train)} training, {len(inputs.validation)} validation and {len(inputs.test)} test rows; "
            f"{sum(p.numel() for p in inputs.model.parameters() if p.requires_grad):,} trainable parameters; "
            f"{self.world.size} process(es) on {self.world.device().type}",
        )
        resume = self.load_checkpoint()
        result = fit(
            inputs.model, spec.method, self.options, inputs.train, inputs.validation, LoopHooks(self), resume=resume,
            cache=inputs.cache,
        )  # fmt: skip
        if not self.world.leader:
            return
        if inputs.cache is not None:
            rows = len(inputs.train) + len(inputs.validation)
            self.report(
                "log",
                f"embedded {result.embedded_rows} of {rows} training and validation rows in {result.embedding_s:.1f} s"
                f" (the others' embeddings kept from earlier runs on this base model)",
            )
        self.report("log", f"training done in {result.seconds:.1f} s; chosen epoch {result.best_epoch}")
        self.finish(inputs, result)

    def prepare(self) -> Inputs:
        spec = self.spec
        base_dir = self.base_model_dir()
        preprocessor = self.task.preprocessor(base_dir, self.options)
        heads = heads_of(spec.train.heads)
        parent_dir = self.parent_dir()
        model, kept = self.build(base_dir, heads, parent_dir)
        model.to(self.world.device())
        column = self.task.snapshot_column
        train_rows = read_rows(self.snapshot_file(spec.train.data_key, "train.parquet"), model.spec.heads, column)
        if spec.test is not None:
            test_rows = read_rows(self.snapshot_file(spec.test.data_key, "test.parquet"), model.spec.heads, column)
            test_content = spec.test.sha256
            train_content = spec.train.sha256
        else:
            if spec.split_key is None:
                raise BadInput("the spec has neither a test snapshot nor a split")
            test_mask = read_split(self.snapshot_file(spec.split_key, "split.parquet"))
            test_rows, train_rows = train_rows.take(test_mask), train_rows.take(~test_mask)
            train_content = f"{spec.train.sha256}:{spec.split_key}:train"
            test_content = f"{spec.train.sha256}:{spec.split_key}:test"
        if not train_rows.inputs:
            raise BadInput("the training snapshot has no rows to train on")
        train_all = Examples(
            self.encoded(preprocessor, self.raw(train_rows), train_content),
            train_rows.targets,
            [row_key(value) for value in train_rows.inputs],
        )
        test = Examples(
            self.encoded(preprocessor, self.raw(test_rows), test_content),
            test_rows.targets,
            [row_key(value) for value in test_rows.inputs],
        )
        train_positions, validation_positions = validation_split(
            train_all.targets, self.options.validation_pct, self.options.seed
        )
        train, validation = train_all.subset(train_positions), train_all.subset(validation_positions)
        shared = overlap(train_rows.inputs, test_rows.inputs)
        cache = self.embedding_cache(preprocessor, parent_dir)
        return Inputs(
            model, preprocessor, base_dir, parent_dir, kept, train, validation, test, test_rows, shared, cache
        )

    def raw(self, rows: SnapshotRows) -> list[Any]:
        return self.task.raw_inputs(rows.inputs, self)

    # -- evaluation and outputs -------------------------------------------------------------------------
    def finish(self, prepared: Inputs, result: Any) -> None:
        """Evaluate on the test rows against the baseline, then write the artifacts, metrics.json, the scores
        (kept so the figures can be recomputed at any cut-off), the card, and report ``succeeded``."""
        spec = self.spec
        parent_label = f"{spec.parent.name} ({spec.parent.id})" if spec.parent is not None else ""
        scored = evaluate_run(prepared, self.options.precision, self.parent_scores, parent_label)
        self.save_artifacts(prepared)
        evaluation = RunEvaluation(
            report=scored.report,
            baseline=scored.baseline,
            baseline_name=scored.baseline_name,
            delta=scored.change,
            epochs=result.history,
            chosen_epoch=result.best_epoch,
            chosen_step=result.best_step,
            selection=Selection(name=selection_name(self.options.selection), value=result.best_value),
            stopped_early=result.stopped_early,
            kept_heads=prepared.kept,
            hardest_examples=hardest_examples(self.task, prepared, scored.scores),
            leakage={"test_rows": len(prepared.test), "test_rows_in_training": prepared.overlap},
            training={
                "seconds": round(result.seconds, 3),
                "examples_per_s": result.examples_per_s,
                "embedding_s": round(result.embedding_s, 3),
            },
        )
        self.upload_evaluation(evaluation)
        np.savez_compressed(self.work / "scores.npz", **scored.arrays())  # type: ignore[arg-type]
        self.io(upload_file(self.store, self.work / "scores.npz", self.layout.scores))
        card = render_model_card(
            CardInputs(
                name=spec.model_name,
                base_model=spec.base_model.name,
                method=spec.method,
                model_type=spec.model_type,
                train_snapshot={
                    "id": spec.train.id,
                    "name": spec.train.name,
                    "row_count": spec.train.row_count,
                    "heads": spec.train.heads,
                    "duplicates": spec.train.duplicates,
                },
                evaluation_data=spec.split_description or (f"test snapshot {spec.test.id}" if spec.test else ""),
                hyperparameters=hyperparameters(spec.method, self.options, result.total_steps, INFERENCE_BATCH),
                report=scored.report,
                delta=scored.change,
                baseline=scored.baseline_name,
                epochs=result.history,
                selection_metric=evaluation.selection.name,
                chosen_epoch=int(result.best_epoch) if result.best_epoch is not None else None,
                description=spec.description,
                leaked_rows=prepared.overlap,
            )
        )
        (self.work / "card.md").write_text(card)
        self.io(upload_file(self.store, self.work / "card.md", self.layout.card, content_type="text/markdown"))
        summary = scored.summary(evaluation.selection.model_dump(), result.best_epoch, len(prepared.test))
        self.reporter.send("succeeded", "training finished", metrics=summary)

    def save_artifacts(self, prepared: Inputs) -> None:
        spec, model = self.spec, prepared.model
        out = self.work / "artifacts"
        manifest = artifacts.ArtifactManifest(
            method=spec.method,
            base_model_id=spec.base_model.id,
            base_model_sha256=spec.base_model.sha256,
            spec=model.spec,
            model_type=spec.model_type,
        )
        merge = getattr(model.encoder, "merge_and_unload", None)
        if merge is not None and spec.method != "lora":  # a LoRA parent's adapter, folded into a full fine-tune
            model.encoder = merge()
        artifacts.save(model, manifest, prepared.preprocessor, out)
        self.io(upload_directory(self.store, out, self.layout.artifacts))

    def parent_scores(self, prepared: Inputs) -> tuple[list[HeadConfig], list[NDArray[np.float64]]] | None:
        """The parent model's heads and scores on the test rows (the baseline of a retrained model)."""
        if prepared.parent_dir is None or self.spec.parent is None:
            return None
        from modelkit.predict import ClassifierPredictor

        parent = ClassifierPredictor.load(prepared.parent_dir, prepared.base_dir, str(self.world.device()))
        return list(parent.model.spec.heads), parent.scores(self.raw(prepared.test_rows))
