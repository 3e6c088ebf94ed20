"""Training text classifiers on the SMS spam collection with MiniLM-L6 (max length 128), in one run:

- last layer: the platform's whole training (tokenise, embed once, train the head for its epochs with a
  validation pass and a checkpoint per epoch) against ONE plain inference pass over the same texts
  (hand-written: tokenizer with padding, model, mean pooling, in input order). Target: ratio <= 1.3.
- full and LoRA: the platform's training throughput (examples/s over the training steps) against a plain
  hand-written torch loop on the same model, batch size and length. Target: ratio >= 0.9.
- test macro F1 of each platform model next to TF-IDF + logistic regression on the same split.
  Target: full fine-tune >= 0.95 and above the baseline.

It runs the platform's own training code (modelkit's ``fit``, as the worker does), on this machine's CPU.
Run: `python -m bench.train_text [--epochs-full 3] [--epochs-lora 1] [--methods last_layer,full,lora]` (about 15 min).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from automl_proto.models import LoraOptions, TrainingOptions
from deploy.local.sms_spam import rows as sms_rows
from modelkit import model_types
from modelkit.classifier import ClassifierSpec, HeadConfig, MultiHeadClassifier
from modelkit.losses import HeadTargets
from modelkit.model_types.text_classification import load_tokenizer
from modelkit.model_types.text_classification.encoder import load_encoder
from modelkit.model_types.text_classification.tokens import tokenize
from modelkit.training.data import Examples, validation_split
from modelkit.training.loop import NoHooks
from modelkit.training.trainer import embed, fit, head_scores
from trainer_svc.base_models.builtin import BUILTINS

MAX_LENGTH = 128
BATCH = 32
SEED = 1


class Hooks(NoHooks):
    """What the worker does per event, minus the network: checkpoints are written to a local file."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "checkpoint.pt"

    def checkpoint(self, checkpoint: dict[str, Any]) -> None:
        torch.save(checkpoint, self.path)


def minilm_dir(work: Path) -> Path:
    """The model folder as the registry imports it (from its package)."""
    BUILTINS["minilm-l6"].materialise(work / "minilm")
    return work / "minilm"


def new_model(model_dir: Path, method: str) -> MultiHeadClassifier:
    torch.manual_seed(SEED)
    text = model_types.classifier("text_classification")
    spec = ClassifierSpec([HeadConfig("label", ["ham", "spam"])], text.encoder_config(model_dir))
    model = text.classifier(text.load_encoder(model_dir), spec)
    text.apply_method(model, method, LoraOptions())
    return model


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


@torch.no_grad()
def plain_inference_pass(model_dir: Path, texts: list[str], *, by_length: bool, batch: int = 128) -> float:
    """Tokenise each batch with padding, encode, mean-pool. ``by_length``: batches of similar length (the
    strongest plain baseline); otherwise in input order (what a first script does)."""
    tokenizer = load_tokenizer(model_dir)
    encoder = load_encoder(model_dir).eval()
    started = time.perf_counter()
    if by_length:
        lengths = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=MAX_LENGTH)["input_ids"]]
        texts = [texts[i] for i in np.argsort(lengths, kind="stable")]
    for start in range(0, len(texts), batch):
        encoded = tokenizer(
            texts[start : start + batch], padding=True, truncation=True, max_length=MAX_LENGTH, return_tensors="pt"
        )
        mean_pool(encoder(**encoded).last_hidden_state, encoded["attention_mask"])
    return time.perf_counter() - started


def plain_training_loop(model_dir: Path, texts: list[str], labels: np.ndarray, method: str, steps: int) -> float:
    """A hand-written loop: tokenise each shuffled batch, forward, cross-entropy, backward, AdamW step."""
    tokenizer = load_tokenizer(model_dir)
    model = new_model(model_dir, method)  # the same trainable parameters (LoRA adapters + head, or everything)
    head = model.heads[0]
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-5)
    order = np.random.default_rng(SEED).permutation(len(texts))
    model.train()
    started = time.perf_counter()
    examples = 0
    for step in range(steps):
        positions = order[step * BATCH : (step + 1) * BATCH]
        encoded = tokenizer(
            [texts[p] for p in positions], padding=True, truncation=True, max_length=MAX_LENGTH, return_tensors="pt"
        )
        hidden = model.encoder(**encoded).last_hidden_state
        loss = torch.nn.functional.cross_entropy(
            head(mean_pool(hidden, encoded["attention_mask"])), torch.from_numpy(labels[positions])
        )
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        examples += len(positions)
    return examples / (time.perf_counter() - started)


def platform_training(
    model_dir: Path, method: str, options: TrainingOptions, texts: list[str], labels: np.ndarray, test: Examples
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as work:
        started = time.perf_counter()
        tokenizer = load_tokenizer(model_dir)
        data = Examples(tokenize(tokenizer, texts, MAX_LENGTH), [HeadTargets(labels, False)])
        train_positions, validation_positions = validation_split(data.targets, options.validation_pct, SEED)
        model = new_model(model_dir, method)
        result = fit(
            model, method, options, data.subset(train_positions), data.subset(validation_positions), Hooks(Path(work))
        )
        seconds = time.perf_counter() - started
    scores = head_scores(model, embed(model, test.inputs))[0]
    f1 = f1_score(test.targets[0].values, scores.argmax(axis=1), average="macro")
    return {"seconds": seconds, "examples_per_s": result.examples_per_s, "f1": float(f1), "epochs": len(result.history)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs-full", type=int, default=3)
    parser.add_argument("--epochs-lora", type=int, default=1)
    parser.add_argument("--epochs-last-layer", type=int, default=60)
    parser.add_argument("--plain-steps", type=int, default=40)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--methods", default="last_layer,full,lora", help="a subset, comma-separated")
    parser.add_argument("--rows", type=int, default=None, help="only the first N messages (a quick run)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model_dir = minilm_dir(Path(tempfile.mkdtemp(prefix="bench-minilm-")))
    data = sms_rows()[: args.rows]
    texts = [text for _, text in data]
    labels = np.array([1 if label == "spam" else 0 for label, _ in data], dtype=np.int64)
    train_index, test_index = validation_split([HeadTargets(labels, False)], 20, SEED)
    train_texts, test_texts = [texts[i] for i in train_index], [texts[i] for i in test_index]
    train_labels, test_labels = labels[train_index], labels[test_index]
    tokenizer = load_tokenizer(model_dir)
    test = Examples(tokenize(tokenizer, test_texts, MAX_LENGTH), [HeadTargets(test_labels, False)])
    print(
        f"SMS spam: {len(train_texts)} train rows (10% of them validation), {len(test_texts)} test rows; "
        f"MiniLM-L6, max length {MAX_LENGTH}, {torch.get_num_threads()} torch threads"
    )

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    baseline = LogisticRegression(C=10.0, max_iter=2000, class_weight="balanced")
    baseline.fit(vectorizer.fit_transform(train_texts), train_labels)
    baseline_f1 = float(f1_score(test_labels, baseline.predict(vectorizer.transform(test_texts)), average="macro"))
    print(f"\nTF-IDF + logistic regression: test macro F1 {baseline_f1:.4f}")

    methods = args.methods.split(",")
    if "last_layer" in methods:
        last_layer(model_dir, train_texts, train_labels, test, baseline_f1, args.epochs_last_layer)
    for method, epochs, lr in (("full", args.epochs_full, 5e-5), ("lora", args.epochs_lora, 1e-3)):
        if method not in methods:
            continue
        plain_rate = plain_training_loop(model_dir, train_texts, train_labels, method, args.plain_steps)
        options = TrainingOptions(max_epochs=epochs, learning_rate=lr, batch_size=BATCH, seed=SEED)
        run = platform_training(model_dir, method, options, train_texts, train_labels, test)
        print(
            f"\n{method} ({run['epochs']} epoch(s), batch {BATCH}): platform {run['examples_per_s']:.1f} examples/s; "
            f"plain torch loop {plain_rate:.1f} examples/s; ratio {run['examples_per_s'] / plain_rate:.2f} "
            f"(target >= 0.9); training {run['seconds']:.0f} s; test macro F1 {run['f1']:.4f} "
            f"(baseline {baseline_f1:.4f}, {run['f1'] - baseline_f1:+.4f})"
        )


def last_layer(
    model_dir: Path, train_texts: list[str], train_labels: np.ndarray, test: Examples, baseline_f1: float, epochs: int
) -> None:
    plain_s = plain_inference_pass(model_dir, train_texts, by_length=True)
    plain_in_order_s = plain_inference_pass(model_dir, train_texts, by_length=False)
    last = platform_training(
        model_dir,
        "last_layer",
        TrainingOptions(max_epochs=epochs, seed=SEED, class_weights="balanced"),
        train_texts,
        train_labels,
        test,
    )
    print(
        f"\nlast layer ({last['epochs']} epochs): training {last['seconds']:.1f} s; one plain inference pass "
        f"{plain_s:.1f} s with length-sorted batches (ratio {last['seconds'] / plain_s:.2f}, target <= 1.3), "
        f"{plain_in_order_s:.1f} s in input order (ratio {last['seconds'] / plain_in_order_s:.2f}); "
        f"test macro F1 {last['f1']:.4f} (baseline {baseline_f1:.4f})"
    )


if __name__ == "__main__":
    main()
