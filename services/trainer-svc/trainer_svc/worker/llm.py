"""One causal LM's training job (the ``llm`` family): the snapshot's prompt / completion pairs or chat
messages through the base model's chat template (loss on the replies only), examples longer than
``max_length`` tokens left out and counted, LoRA or full training through the shared loop with the eval loss
and perplexity per evaluation, then the test loss and perplexity against the base model's on the same rows,
greedy generations for a few held-out prompts (what a deployment must reproduce), artifacts with the
tokenizer and template fingerprints, metrics, card, report."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import torch
from transformers import AutoConfig, PreTrainedTokenizerBase

from automl_common.storage import upload_directory, upload_file
from automl_proto.metrics import RunEvaluation, Selection
from modelkit import model_types
from modelkit.card import CardInputs, render_model_card
from modelkit.metrics import HeadInput, delta, evaluate
from modelkit.model_types.llm import LLMManifest, load_model, load_tokenizer
from modelkit.model_types.llm.chat import (
    ChatFormatError,
    Encoded,
    Fingerprint,
    default_max_length,
    encode,
    fit,
    messages_of,
)
from modelkit.model_types.llm.generation import GenerationParams, generate
from modelkit.model_types.llm.training import CausalLMObjective, evaluate_loss
from modelkit.training.loop import FitResult, train
from trainer_svc.worker.data import read_split
from trainer_svc.worker.job import BadInput, Job, LoopHooks, hyperparameters

PARITY_PROMPTS = 5
# "Complex classification": when every test completion is one of at most this many distinct short labels,
# the replies are also scored as a classifier's (exact match) against the base model's zero-shot replies.
MAX_LABELS = 20
MAX_LABEL_WORDS = 5
MAX_CLASSIFIED_ROWS = 1000
OTHER = "(any other reply)"
SELECTION = CausalLMObjective.metric_key  # an LLM's evaluations are chosen by their loss
PARITY_MAX_NEW_TOKENS = 32


def exact_match_report(expected: list[str], replies: list[str]) -> dict[str, Any]:
    """Replies scored as a classifier's, exact match against the expected ones (one-hot scores: no loss). A
    reply outside the expected labels counts for the class ``OTHER``, which is a class of the report only when
    some reply fell there: averages are over the classes that occur in the answers or the replies, as
    scikit-learn's are (an empty class would pull the macro averages down for nothing)."""
    labels = sorted(set(expected))
    classes = [*labels, OTHER] if any(reply not in labels for reply in replies) else labels
    scores = np.zeros((len(replies), len(classes)))
    for row, reply in enumerate(replies):
        scores[row, classes.index(reply) if reply in labels else len(labels)] = 1.0
    y_true = np.array([classes.index(label) for label in expected])
    evaluated = evaluate([HeadInput("reply", classes, y_true, scores)])
    for block in (evaluated["heads"]["reply"], evaluated["overall"]):
        block["loss"] = None  # one-hot scores: no likelihood to speak of
    return evaluated


@dataclass
class Conversations:
    """A snapshot's rows as chat messages (each ending with the reply to learn), with their dataset row ids."""

    messages: list[list[dict[str, str]]]
    row_ids: list[int]

    def take(self, positions: list[int]) -> Conversations:
        return Conversations([self.messages[p] for p in positions], [self.row_ids[p] for p in positions])


@dataclass
class Encoding:
    examples: list[Encoded]
    kept: list[int]  # positions of the rows encoded
    left_out: dict[str, int]  # reason -> rows
    rows: Conversations  # the kept rows as encoded (a long prompt cut to fit)
    cut: int = 0  # rows whose prompt was cut to fit


def read_conversations(path: Path) -> Conversations:
    table = pq.read_table(path)
    names = table.column_names
    row_ids = table.column("row_id").to_pylist() if "row_id" in names else list(range(table.num_rows))
    if "messages" in names:
        parsed = [json.loads(text) if isinstance(text, str) else text for text in table.column("messages").to_pylist()]
        return Conversations([list(item) for item in parsed], row_ids)
    prompts, completions = table.column("prompt").to_pylist(), table.column("completion").to_pylist()
    return Conversations(
        [messages_of(prompt, completion, None) for prompt, completion in zip(prompts, completions, strict=True)],
        row_ids,
    )


def encode_all(tokenizer: PreTrainedTokenizerBase, rows: Conversations, max_length: int) -> Encoding:
    """Every row as an example of at most ``max_length`` tokens: a prompt too long is cut in its middle (the
    reply is kept whole; counted in ``cut``); a row whose reply alone does not fit is left out."""
    examples, kept, fitted_messages = [], [], []
    left_out: dict[str, int] = {}
    cut = 0
    for position, messages in enumerate(rows.messages):
        try:
            fitted = fit(tokenizer, messages_of(None, None, messages), max_length)
        except ChatFormatError:
            left_out["invalid_messages"] = left_out.get("invalid_messages", 0) + 1
            continue
        if fitted is None:
            left_out["reply_too_long"] = left_out.get("reply_too_long", 0) + 1
            continue
        cut += fitted.cut
        examples.append(fitted.encoded)
        kept.append(position)
        fitted_messages.append(fitted.messages)
    return Encoding(examples, kept, left_out, Conversations(fitted_messages, [rows.row_ids[p] for p in kept]), cut)


def choose_max_length(tokenizer: PreTrainedTokenizerBase, rows: Conversations, context: int | None) -> int:
    """The run's ``max_length`` when none was asked for: from the training rows' own token lengths (see
    ``default_max_length``), within the base model's context."""
    lengths = []
    for messages in rows.messages:
        try:
            lengths.append(len(encode(tokenizer, messages_of(None, None, messages))))
        except ChatFormatError:
            continue
    chosen = default_max_length(lengths)
    return min(chosen, context) if context else chosen


class LLMJob(Job):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.task = model_types.llm_task(self.spec.model_type)

    def run(self) -> None:
        spec, options = self.spec, self.options
        self.start()
        if spec.parent is not None:
            raise BadInput("retraining from a parent model is for classifiers; an llm model starts from its base")
        base_dir = self.base_model_dir()
        tokenizer = load_tokenizer(base_dir)
        try:
            fingerprint = Fingerprint.of(tokenizer)
        except ChatFormatError as error:
            raise BadInput(f"the base model's tokenizer cannot be used: {error}") from error
        train_rows, test_rows = self.rows()
        if options.max_length is None:  # from the training rows' lengths
            context = getattr(AutoConfig.from_pretrained(str(base_dir)), "max_position_embeddings", None)
            options = self.options = options.model_copy(
                update={"max_length": choose_max_length(tokenizer, train_rows, context)}
            )
            self.report("log", f"max_length {options.max_length}, from the training rows' lengths", options=options)
        assert options.max_length is not None
        train_all = encode_all(tokenizer, train_rows, options.max_length)
        test = encode_all(tokenizer, test_rows, options.max_length)
        if not train_all.examples:
            raise BadInput(f"no training example fits in max_length {options.max_length} tokens ({train_all.left_out})")
        order = np.random.default_rng(options.seed).permutation(len(train_all.examples))
        held = max(1, round(len(order) * options.validation_pct / 100)) if len(order) > 1 else 0
        validation = [train_all.examples[i] for i in sorted(order[:held])]
        training = [train_all.examples[i] for i in sorted(order[held:])]
        torch.manual_seed(options.seed)
        model = self.task.apply_method(load_model(base_dir), spec.method, options.lora)
        model.to(self.world.device())
        pad_id = int(tokenizer.pad_token_id)
        baseline = (
            evaluate_loss(model, test.examples, options.max_length, pad_id, options.precision)
            if test.examples
            else None
        )
        self.report(
            "log",
            f"{len(training)} training, {len(validation)} validation and {len(test.examples)} test examples "
            f"({sum(len(e) for e in training):,} training tokens, max_length {options.max_length}); prompts cut "
            f"to fit: train {train_all.cut}, test {test.cut}; left out: train {train_all.left_out or 'none'}, "
            f"test {test.left_out or 'none'}; "
            f"{sum(p.numel() for p in model.parameters() if p.requires_grad):,} trainable parameters",
        )
        objective = CausalLMObjective(model, options, training, validation, pad_id)
        result = train(objective, options, LoopHooks(self), resume=self.load_checkpoint())
        if not self.world.leader:
            return
        self.report("log", f"training done in {result.seconds:.1f} s; chosen epoch {result.best_epoch}")
        self.finish(model, tokenizer, fingerprint, result, test, baseline, train_all, objective)

    def rows(self) -> tuple[Conversations, Conversations]:
        spec = self.spec
        train_rows = read_conversations(self.snapshot_file(spec.train.data_key, "train.parquet"))
        if spec.test is not None:
            return train_rows, read_conversations(self.snapshot_file(spec.test.data_key, "test.parquet"))
        if spec.split_key is None:
            raise BadInput("the spec has neither a test snapshot nor a split")
        test_mask = read_split(self.snapshot_file(spec.split_key, "split.parquet"))
        positions = np.arange(len(test_mask))
        return train_rows.take(positions[~test_mask].tolist()), train_rows.take(positions[test_mask].tolist())

    def finish(
        self,
        model: torch.nn.Module,
        tokenizer: PreTrainedTokenizerBase,
        fingerprint: Fingerprint,
        result: FitResult,
        test: Encoding,
        baseline: dict[str, float] | None,
        train_all: Encoding,
        objective: CausalLMObjective,
    ) -> None:
        spec, options = self.spec, self.options
        assert options.max_length is not None
        left_out = train_all.left_out
        figures = (
            evaluate_loss(model, test.examples, options.max_length, objective.pad_id, options.precision)
            if test.examples
            else {}
        )
        parity = self.parity(model, tokenizer, test.rows.take(list(range(min(PARITY_PROMPTS, len(test.kept))))))
        out = self.work / "artifacts"
        manifest = LLMManifest(
            method=spec.method,
            base_model_id=spec.base_model.id,
            base_model_sha256=spec.base_model.sha256,
            fingerprint=fingerprint.__dict__,
            max_length=options.max_length,
        )
        self.task.save(model, tokenizer, manifest, out)
        (out / "parity.json").write_text(json.dumps(parity))
        self.io(upload_directory(self.store, out, self.layout.artifacts))

        report: dict[str, Any] = {"overall": {}, "heads": {}}
        base_report: dict[str, Any] = {"overall": {}, "heads": {}}
        classified = self.classify(model, tokenizer, test.rows)
        if classified is not None:
            report, base_report = classified
        report["overall"] |= {key: figures.get(key) for key in ("loss", "perplexity")}
        base_report["overall"] |= {key: (baseline or {}).get(key) for key in ("loss", "perplexity")}
        overall = report["overall"]
        change = delta(report, base_report)
        baseline_name = f"the base model {spec.base_model.name} on the same test examples" + (
            " (zero-shot)" if classified is not None else ""
        )
        tokens_per_s = objective.tokens_trained / result.seconds if result.seconds else None
        evaluation = RunEvaluation(
            report=report,
            baseline=base_report,
            baseline_name=baseline_name,
            delta=change,
            epochs=result.history,
            chosen_epoch=result.best_epoch,
            chosen_step=result.best_step,
            selection=Selection(name=SELECTION, value=result.best_value),
            stopped_early=result.stopped_early,
            kept_heads=[],
            left_out=left_out,
            train_examples=len(objective.train),
            validation_examples=len(objective.validation),
            test_examples=len(test.examples),
            test_left_out=test.left_out,
            max_length=options.max_length,
            prompts_cut={"train": train_all.cut, "test": test.cut},
            parity=parity,
            training={
                "seconds": round(result.seconds, 3),
                "examples_per_s": result.examples_per_s,
                "tokens_per_s": round(tokens_per_s, 2) if tokens_per_s else None,
                "embedding_s": 0.0,
            },
        )
        self.upload_evaluation(evaluation)
        card = render_model_card(
            CardInputs(
                name=spec.model_name,
                base_model=spec.base_model.name,
                method=spec.method,
                model_type=spec.model_type,
                train_snapshot={"id": spec.train.id, "name": spec.train.name, "row_count": spec.train.row_count},
                evaluation_data=spec.split_description or (f"test snapshot {spec.test.id}" if spec.test else ""),
                hyperparameters=hyperparameters(spec.method, options, result.total_steps, "packed rows"),
                report=report,
                delta=change,
                baseline=baseline_name,
                epochs=result.history,
                selection_metric=SELECTION,
                chosen_epoch=int(result.best_epoch) if result.best_epoch is not None else None,
                description=spec.description,
            )
        )
        (self.work / "card.md").write_text(card)
        self.io(upload_file(self.store, self.work / "card.md", self.layout.card, content_type="text/markdown"))
        summary = {
            "overall": overall,
            "heads": {
                name: {"f1": head["macro"]["f1"], "accuracy": head["accuracy"], "loss": head["loss"]}
                for name, head in report["heads"].items()
            },
            "delta_overall": change["overall"],
            "baseline": baseline_name,
            "chosen_epoch": result.best_epoch,
            "selection": evaluation.selection.model_dump(),
            "test_rows": len(test.examples),
        }
        self.reporter.send("succeeded", "training finished", metrics=summary)

    def classify(
        self, model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, rows: Conversations
    ) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """Exact-match classification reports (the trained model's, the base model's zero-shot) when the test
        replies are a few short labels; None otherwise. Scores are one-hot (replies have no probabilities):
        a reply outside the labels counts for the class ``OTHER``."""
        prompts, expected = [], []
        for messages in rows.messages[:MAX_CLASSIFIED_ROWS]:
            last = max(i for i, message in enumerate(messages) if message["role"] == "assistant")
            prompts.append(messages[:last])
            expected.append(messages[last]["content"].strip())
        labels = sorted(set(expected))
        if not 2 <= len(labels) <= MAX_LABELS or any(len(label.split()) > MAX_LABEL_WORDS for label in labels):
            return None
        longest = max(len(tokenizer(label, add_special_tokens=False)["input_ids"]) for label in labels)
        params = GenerationParams(max_new_tokens=longest + 2)

        def report(replies: list[str]) -> dict[str, Any]:
            return exact_match_report(expected, replies)

        trained = report([generate(model, tokenizer, prompt, params).text.strip() for prompt in prompts])
        disable = getattr(model, "disable_adapter", None)
        if disable is not None:  # LoRA: the base model is the same weights without the adapter
            with disable():
                zero_shot = [generate(model, tokenizer, prompt, params).text.strip() for prompt in prompts]
        else:
            base: torch.nn.Module = load_model(self.base_model_dir())
            base.to(self.world.device())
            base.train(False)
            zero_shot = [generate(base, tokenizer, prompt, params).text.strip() for prompt in prompts]
        return trained, report(zero_shot)

    def parity(
        self, model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, rows: Conversations
    ) -> list[dict[str, Any]]:
        """Greedy replies to held-out prompts (each conversation up to its last reply): a deployment of this
        model must give the same."""
        params = GenerationParams(max_new_tokens=PARITY_MAX_NEW_TOKENS)
        out = []
        for messages in rows.messages:
            last = max(i for i, message in enumerate(messages) if message["role"] == "assistant")
            prompt = messages[:last]
            generated = generate(model, tokenizer, prompt, params)
            out.append({"messages": prompt, "max_new_tokens": params.max_new_tokens, "output": generated.text})
        return out
