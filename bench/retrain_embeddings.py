"""Retraining a last-layer head after an edit, with the embedding cache: MiniLM-L6 on the SMS spam collection,
through the platform's own code as the worker runs it (tokenise, then modelkit's ``fit`` with the org's
``EmbeddingCache``), in one run:

- the first training (an empty cache: every row embedded);
- the retraining after ``--edited`` percent of the rows were edited (their texts changed): only those rows
  embedded, the others read from the cache;
- the ratio of the second time to the first (its baseline, measured in the same run). Target: <= 0.1.

Both runs use the type's last-layer defaults (epochs, batch size, learning rate). Run:
`python -m bench.retrain_embeddings [--rows 5000] [--edited 1]`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from automl_proto.models import TrainingOptions
from bench.train_text import MAX_LENGTH, SEED, minilm_dir, new_model
from deploy.local.sms_spam import rows as sms_rows
from modelkit import model_types
from modelkit.losses import HeadTargets
from modelkit.model_types.text_classification import load_tokenizer
from modelkit.model_types.text_classification.tokens import tokenize
from modelkit.training.data import Examples, validation_split
from modelkit.training.embedding_cache import EmbeddingCache, row_key
from modelkit.training.loop import NoHooks
from modelkit.training.trainer import fit

TARGET = 0.1


def train(model_dir: Path, texts: list[str], labels: np.ndarray, cache: EmbeddingCache) -> tuple[float, int]:
    """Tokenise, split and train a last-layer head as the worker does; its seconds and the rows it embedded."""
    defaults = model_types.info("text_classification").method_defaults.get("last_layer")
    options = TrainingOptions(seed=SEED).resolved("last_layer", defaults)
    started = time.perf_counter()
    model = new_model(model_dir, "last_layer")
    inputs = tokenize(load_tokenizer(model_dir), texts, MAX_LENGTH)
    everything = Examples(inputs, [HeadTargets(labels, False)], [row_key(text) for text in texts])
    train_positions, validation_positions = validation_split(everything.targets, options.validation_pct, SEED)
    result = fit(
        model, "last_layer", options, everything.subset(train_positions), everything.subset(validation_positions),
        NoHooks(), cache=cache,
    )  # fmt: skip
    return time.perf_counter() - started, result.embedded_rows


def measure(rows: int, edited_pct: float) -> None:
    """Train, edit ``edited_pct`` percent of the rows, retrain; print both times and their ratio."""
    data = sms_rows()[:rows]
    texts = [text for _, text in data]
    labels = np.array([1 if label == "spam" else 0 for label, _ in data])
    rng = np.random.default_rng(SEED)
    changed = rng.choice(len(texts), size=max(1, round(len(texts) * edited_pct / 100)), replace=False)
    edited = list(texts)
    for position in changed:
        edited[position] = f"{edited[position]} (edited)"
    with tempfile.TemporaryDirectory(prefix="bench-retrain-") as work:
        model_dir = minilm_dir(Path(work))
        cache = EmbeddingCache(Path(work) / "cache", "text_classification:minilm-l6:fp32:cpu")
        first_s, first_rows = train(model_dir, texts, labels, cache)
        second_s, second_rows = train(model_dir, edited, labels, cache)
    print(f"{len(texts)} texts; {len(changed)} edited ({edited_pct:g}%)")
    print(f"first training:  {first_s:6.2f} s, {first_rows} rows embedded")
    print(f"retraining:      {second_s:6.2f} s, {second_rows} rows embedded (the others from the cache)")
    print(f"retraining / first training (its baseline): ratio {second_s / first_s:.3f} (target <= {TARGET})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--edited", type=float, default=1.0, help="percent of the rows edited before retraining")
    args = parser.parse_args()
    measure(args.rows, args.edited)


if __name__ == "__main__":
    main()
