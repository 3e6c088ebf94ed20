"""The model card: a markdown report of how a model was made and how well it does, for people."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

FEW_TEST_EXAMPLES = 10
SMALL_TEST_SET = 200  # rows: below this, or with a wider interval, the card gives the accuracy's interval
WIDE_INTERVAL = 0.1
STRONG_IMBALANCE = 10.0


@dataclass
class CardInputs:
    name: str
    base_model: str
    method: str
    model_type: str
    train_snapshot: dict[str, Any]  # {id, name, row_count, heads: [{name, multilabel, classes: [{name, count}]}]}
    evaluation_data: str  # e.g. "test snapshot snap_... (1,000 rows)" or "20% stratified split, seed 1"
    hyperparameters: dict[str, Any]
    report: dict[str, Any]  # modelkit.metrics.evaluate(...)
    delta: dict[str, Any] | None = None  # modelkit.metrics.delta(report, baseline)
    baseline: str = "the majority-class predictor"
    epochs: list[dict[str, Any]] = field(default_factory=list)  # {epoch, step, train_loss, val_loss, <metric>}
    selection_metric: str = "macro_f1"
    chosen_epoch: int | None = None
    description: str = ""
    leaked_rows: int | None = None


# What markdown (or HTML) reads as syntax inside a line; a block's start ("# ", "- ", "1. ", "> ") is handled apart.
_INLINE_SPECIALS = frozenset("\\`*_[]<>|~")
_BLOCK_START = re.compile(r"^(\s*)([#>+=-]|\d+[.)])")


def _text(value: Any, *, line: bool = False) -> str:
    """A user's text (a name, a class, a line of a description) as literal text in markdown: what markdown or
    HTML would read as syntax escaped, so ``![x](https://...)`` shows as typed and fetches nothing. ``line``:
    the text starts a line of its own (a heading, a list or a quote could start there)."""
    text = "".join("\\" + ch if ch in _INLINE_SPECIALS else ch for ch in str(value).replace("\n", " "))
    return _BLOCK_START.sub(lambda match: match.group(1) + "\\" + match.group(2), text) if line else text


def _code(value: Any) -> str:
    """A user's text as inline code: a fence longer than any run of backticks in it (so it cannot end the span
    early), on one line, pipes escaped (a table splits at them even inside code)."""
    text = str(value).replace("\n", " ").replace("|", "\\|")
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {text} {fence}" if longest else f"`{text}`"


def _number(value: Any, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.4f}"


def limitations(inputs: CardInputs) -> list[str]:
    """What in the data should make a reader careful with the figures."""
    found: list[str] = []
    for name, head in inputs.report["heads"].items():
        interval = head.get("accuracy_ci")
        if interval and (head["rows"] < SMALL_TEST_SET or interval[1] - interval[0] > WIDE_INTERVAL):
            found.append(
                f"Head {_code(name)} was tested on {head['rows']} rows only: its accuracy of {head['accuracy']:.4f} "
                f"has a 95% confidence interval of {interval[0]:.4f} to {interval[1]:.4f}, so differences smaller "
                "than that between models are within noise. Test on more rows to tell them apart."
            )
        few = [label for label, metrics in head["classes"].items() if metrics["support"] < FEW_TEST_EXAMPLES]
        if few:
            found.append(
                f"Head {_code(name)}: classes with fewer than {FEW_TEST_EXAMPLES} test examples "
                f"({', '.join(_text(label) for label in few)}); "
                "their metrics are uncertain."
            )
    for head in inputs.train_snapshot.get("heads", []):
        counts = [item["count"] for item in head.get("classes", []) if item["count"] > 0]
        if len(counts) >= 2 and max(counts) / min(counts) >= STRONG_IMBALANCE:
            found.append(
                f"Head {_code(head['name'])} is strongly imbalanced in training (largest class {max(counts)} rows, "
                f"smallest {min(counts)}); look at per-class recall, not accuracy alone."
            )
    if inputs.leaked_rows:
        found.append(
            f"{inputs.leaked_rows} test rows also appear in the training data (leakage); the test figures "
            "are optimistic."
        )
    return found


def render_model_card(inputs: CardInputs) -> str:
    hp = inputs.hyperparameters
    lines = [f"# Model card: {_text(inputs.name)}", ""]
    if inputs.description:
        lines += [_text(text, line=True) for text in inputs.description.splitlines()] + [""]
    lines += [
        "## Model",
        "",
        f"- Type: {inputs.model_type}",
        f"- Base model: {_text(inputs.base_model)}",
        f"- Training method: {inputs.method}",
        "",
        "## Data",
        "",
        f"- Training snapshot: {_text(inputs.train_snapshot.get('name', ''))} "
        f"({_code(inputs.train_snapshot.get('id', ''))}), "
        f"{inputs.train_snapshot.get('row_count', 'n/a')} rows",
        f"- Evaluation data: {_text(inputs.evaluation_data)}",
    ]
    repeated = inputs.train_snapshot.get("duplicates")
    if repeated is not None:
        lines.append(
            f"- Duplicates in the training snapshot: {repeated.get('rows', 0)} rows repeat an input of another row "
            f"({repeated.get('groups', 0)} inputs, {repeated.get('conflicting_groups', 0)} of them with conflicting "
            "labels); a split keeps each input's rows in one part"
        )
    if inputs.leaked_rows is not None:
        lines.append(f"- Test rows whose input is also a training row's: {inputs.leaked_rows}")
    lines += [
        "",
    ]
    for head in inputs.train_snapshot.get("heads", []):
        kind = "multi-label" if head.get("multilabel") else "single-label"
        counts = ", ".join(f"{_text(item['name'])}: {item['count']}" for item in head.get("classes", []))
        lines.append(f"- Head {_code(head['name'])} ({kind}): {counts}")
    optimizer = hp.get("optimizer", {})
    scheduler = hp.get("scheduler", {})
    stopping = hp.get("early_stopping", {})
    lines += [
        "",
        "## Hyperparameters",
        "",
        "| setting | value |",
        "|---|---|",
        f"| learning rate | {hp.get('learning_rate', 'n/a')} |",
        f"| train batch size | {hp.get('train_batch_size', 'n/a')} |",
        f"| eval batch size | {hp.get('eval_batch_size', 'n/a')} |",
        f"| seed | {hp.get('seed', 'n/a')} |",
        f"| optimizer | {optimizer.get('name', 'n/a')} (betas {optimizer.get('betas', 'n/a')}, "
        f"epsilon {optimizer.get('epsilon', 'n/a')}, weight decay {optimizer.get('weight_decay', 'n/a')}) |",
        f"| scheduler | {scheduler.get('name', 'n/a')}, warmup {scheduler.get('warmup_steps', 'n/a')} steps |",
        f"| epochs | {hp.get('epochs', 'n/a')} |",
        f"| early stopping | patience {stopping.get('patience', 'n/a')}, "
        f"min delta {stopping.get('min_delta', 'n/a')} |",
        f"| model selection | best {inputs.selection_metric}"
        + (f", chosen epoch {inputs.chosen_epoch}" if inputs.chosen_epoch is not None else "")
        + " |",
        "",
    ]
    if inputs.epochs:
        lines += [
            "## Training",
            "",
            f"| epoch | step | training loss | validation loss | {inputs.selection_metric} |",
            "|---|---|---|---|---|",
        ]
        for row in inputs.epochs:
            lines.append(
                f"| {row.get('epoch')} | {row.get('step')} | {_number(row.get('train_loss'))} | "
                f"{_number(row.get('val_loss'))} | {_number(row.get(inputs.selection_metric))} |"
            )
        lines.append("")
    lines += ["## Results", ""]
    overall = inputs.report["overall"]
    overall_delta = (inputs.delta or {}).get("overall", {})
    lines += [
        f"{'Overall (mean over heads)' if inputs.report['heads'] else 'On the test examples'}, with the change "
        f"against {_text(inputs.baseline)}:",
        "",
        "| metric | value | change |",
        "|---|---|---|",
    ]
    keys = ("accuracy", "precision", "recall", "f1", "balanced_accuracy", "specificity", "loss", "perplexity")
    for key in (key for key in keys if key in overall):
        lines.append(f"| {key} | {_number(overall.get(key))} | {_signed(overall_delta.get(key))} |")
    lines.append("")
    for name, head in inputs.report["heads"].items():
        head_delta = (inputs.delta or {}).get("heads", {}).get(name, {})
        accuracy_name = "Hamming score" if head["multilabel"] else "accuracy"
        lines += [
            f"### Head {_code(name)}",
            "",
            f"{accuracy_name} {_number(head['accuracy'])} ({_signed(head_delta.get('accuracy'))}), "
            f"macro F1 {_number(head['macro']['f1'])} ({_signed(head_delta.get('macro', {}).get('f1'))}), "
            f"loss {_number(head['loss'])}, {head['rows']} rows.",
            "",
            "| class | precision | recall | specificity | F1 | balanced accuracy | support | ROC AUC | AP |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for label, metrics in head["classes"].items():
            lines.append(
                f"| {_text(label)} | {_number(metrics['precision'])} | {_number(metrics['recall'])} | "
                f"{_number(metrics['specificity'])} | {_number(metrics['f1'])} | "
                f"{_number(metrics['balanced_accuracy'])} | {metrics['support']} | {_number(metrics['roc_auc'])} | "
                f"{_number(metrics['average_precision'])} |"
            )
        lines.append("")
    found = limitations(inputs)
    lines += ["## Limitations", ""]
    lines += [f"- {item}" for item in found] if found else ["- None found in the data."]
    lines.append("")
    return "\n".join(lines)
