"""LoRA classifiers of one base model (MiniLM-L6), served two ways, in process on this CPU, in one run:

- **separate**: each model's adapter merged into an encoder of its own, as a LoRA deployment's replica loads
  it today (``artifacts.load(merge=True)``); requests to a model go to its own encoder, batched per model;
- **shared, per-adapter batches**: one base encoder with every model's adapter beside it (peft), requests
  grouped by model and the adapter switched between batches (``set_adapter``), as LLM adapters are served;
- **shared, mixed batches**: the same, each batch in arrival order, every row through its own model's adapter
  in one pass (peft's ``adapter_names``).

Printed: the memory each way takes for ``--models`` models (parameter bytes), and the throughput with
``--requests`` single-text requests spread over them (batches of up to ``--batch``), each against the
separate replicas (the baseline, measured in the same run). Adapters have random weights (rank 8 on the
query and value projections, the platform's LoRA default); the timing does not depend on their values.
Run: `python -m bench.lora_sharing [--models 8]`.
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from torch import nn

from bench.train_text import minilm_dir
from deploy.local.sms_spam import rows as sms_rows
from modelkit.model_types.text_classification import load_tokenizer
from modelkit.model_types.text_classification.encoder import load_encoder
from modelkit.model_types.text_classification.tokens import tokenize

MAX_LENGTH = 64


def parameter_bytes(module: nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in module.parameters())


def with_adapters(encoder: nn.Module, count: int) -> PeftModel:
    """``encoder`` wrapped with ``count`` LoRA adapters ``m0``..., their weights random (not the zeros of a
    new adapter, which would make every model the base)."""
    config = LoraConfig(r=8, lora_alpha=16, target_modules=["query", "value"], lora_dropout=0.0)
    model = get_peft_model(encoder, config, adapter_name="m0")
    for index in range(1, count):
        model.add_adapter(f"m{index}", config)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.02)
    model.eval()
    return model


def timed(call: Callable[[], None], repeats: int = 3) -> float:
    call()  # warm
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=8)
    parser.add_argument("--requests", type=int, default=256)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(2)
    texts = [text for _, text in sms_rows()[: args.requests]]
    owners = [index % args.models for index in range(args.requests)]  # spread over the models, interleaved
    with tempfile.TemporaryDirectory(prefix="bench-lora-sharing-") as work:
        base_dir = minilm_dir(Path(work))
        tokenizer = load_tokenizer(base_dir)
        shared = with_adapters(load_encoder(base_dir), args.models)
        separate = []
        for index in range(args.models):
            own = copy.deepcopy(shared)
            own.set_adapter(f"m{index}")
            separate.append(own.merge_and_unload(adapter_names=[f"m{index}"]).eval())
    inputs = tokenize(tokenizer, texts, MAX_LENGTH)

    def batch_of(positions: list[int]) -> dict[str, torch.Tensor]:
        return inputs.batch(torch.tensor(positions).numpy())

    by_model = {m: [i for i, owner in enumerate(owners) if owner == m] for m in range(args.models)}
    per_model_batches = [
        (m, rows[start : start + args.batch])
        for m, rows in by_model.items()
        for start in range(0, len(rows), args.batch)
    ]
    mixed_batches = [
        list(range(start, min(start + args.batch, len(texts)))) for start in range(0, len(texts), args.batch)
    ]

    @torch.inference_mode()
    def run_separate() -> None:
        for model, rows in per_model_batches:
            separate[model](**batch_of(rows))

    @torch.inference_mode()
    def run_switched() -> None:
        for model, rows in per_model_batches:
            shared.set_adapter(f"m{model}")
            shared(**batch_of(rows))

    @torch.inference_mode()
    def run_mixed() -> None:
        for rows in mixed_batches:
            shared(**batch_of(rows), adapter_names=[f"m{owners[row]}" for row in rows])

    @torch.inference_mode()
    def run_one_model() -> None:
        for rows in mixed_batches:
            separate[0](**batch_of(rows))

    # The same rows, the same answers: a check that each way runs each row through its own model.
    row = by_model[1][0]
    with torch.inference_mode():
        want = separate[1](**batch_of([row])).last_hidden_state
        shared.set_adapter("m1")
        switched = shared(**batch_of([row])).last_hidden_state
        mixed = shared(**batch_of([row, by_model[0][0]]), adapter_names=["m1", "m0"]).last_hidden_state[:1]
    assert torch.allclose(want, switched, atol=1e-4)
    assert torch.allclose(want, mixed[:, : want.shape[1]], atol=1e-4)

    seconds = {
        "separate": timed(run_separate),
        "shared, per-adapter": timed(run_switched),
        "shared, mixed": timed(run_mixed),
        "one model (reference)": timed(run_one_model),
    }
    encoder_bytes = parameter_bytes(separate[0])
    adapter_bytes = sum(p.numel() * p.element_size() for n, p in shared.named_parameters() if "lora_" in n)
    base_bytes = parameter_bytes(shared) - adapter_bytes
    print(
        f"{args.models} LoRA MiniLM models: separate {args.models * encoder_bytes / 2**20:.0f} MiB of weights "
        f"({encoder_bytes / 2**20:.1f} MiB a model); shared {(base_bytes + adapter_bytes) / 2**20:.1f} MiB "
        f"(the base once, {adapter_bytes / args.models / 1024:.0f} KiB an adapter)"
    )
    print(f"throughput, {args.requests} requests spread over {args.models} models, batches of up to {args.batch}:")
    baseline = args.requests / seconds["separate"]
    for name, spent in seconds.items():
        rate = args.requests / spent
        print(f"  {name:22s} {rate:7.1f} inputs/s  ratio {rate / baseline:.2f} to separate replicas")


if __name__ == "__main__":
    main()
