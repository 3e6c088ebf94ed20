"""LLM fine-tuning and serving with SmolLM2-135M-Instruct (imported from its package's GGUF, as the platform's
built-in base model is), in one run:

- LoRA training on a few hundred prompt / completion pairs this bench makes (additions: "What is 17 plus
  25?" -> "42"): the platform's training (chat template, labels on replies, padding-free packing, the shared
  loop with its checkpoint per epoch) in tokens per second, against a plain hand-written peft loop on the same
  model, LoRA settings, examples and batch size (pad to the longest, attention mask, labels, AdamW). Target:
  ratio >= 0.9. Tokens counted are the examples' real tokens (no padding) in both.
- generation: tokens per second, greedy, from the trained model (adapter merged);
- many adapters on one replica (``AdapterPool``, what the playground's adapter app runs): 20 adapters of this
  base; time to first token for an adapter not loaded yet (cold: its files read and attached) and for one
  loaded but not active (warm: a switch), and the process's memory with 20 adapters loaded against the base
  alone (target <= 1.2x).

Run: `python -m bench.llm [--pairs 320] [--adapters 20]` after `make install` (about 6 min on 2 cores).
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import torch

from automl_proto.models import LoraOptions, TrainingOptions
from bench.train_text import Hooks
from modelkit import model_types
from modelkit.model_types.llm import LLMManifest, load_model, load_tokenizer
from modelkit.model_types.llm.adapters import AdapterPool
from modelkit.model_types.llm.chat import IGNORE, Encoded, Fingerprint, encode, messages_of
from modelkit.model_types.llm.generation import GenerationParams, Piece, generate
from modelkit.model_types.llm.training import CausalLMObjective
from modelkit.training.loop import train
from trainer_svc.base_models.builtin import BUILTINS

LLM = model_types.llm_task("llm")
BATCH = 8
MAX_LENGTH = 64
SEED = 1
LORA = LoraOptions(r=8, alpha=16, dropout=0.0)


def pairs(count: int) -> list[tuple[str, str]]:
    rng = random.Random(SEED)
    out = []
    for _ in range(count):
        a, b = rng.randint(1, 99), rng.randint(1, 99)
        out.append((f"What is {a} plus {b}? Answer with the number only.", str(a + b)))
    return out


def smollm2(work: Path) -> Path:
    target = work / "smollm2"
    started = time.perf_counter()
    BUILTINS["smollm2-135m"].materialise(target)
    print(f"SmolLM2-135M-Instruct imported from its GGUF in {time.perf_counter() - started:.1f} s")
    return target


def options(epochs: int) -> TrainingOptions:
    return TrainingOptions(
        max_length=MAX_LENGTH, seed=SEED, max_epochs=epochs, batch_size=BATCH, learning_rate=2e-4, lora=LORA
    ).resolved("lora", LLM.info.method_defaults["lora"])


def platform_lora(base: Path, examples: list[Encoded], epochs: int, work: Path) -> tuple[torch.nn.Module, float]:
    tokenizer = load_tokenizer(base)
    torch.manual_seed(SEED)
    model = LLM.apply_method(load_model(base), "lora", LORA)
    settings = options(epochs)
    objective = CausalLMObjective(model, settings, examples, [], int(tokenizer.pad_token_id))
    result = train(objective, settings, Hooks(work))
    rate = objective.tokens_trained / result.seconds
    print(f"platform LoRA: {objective.tokens_trained} tokens in {result.seconds:.1f} s: {rate:.1f} tokens/s")
    return model, rate


def plain_lora(base: Path, examples: list[Encoded], epochs: int) -> float:
    """A hand-written peft loop: batches in the same order, padded to their longest example."""
    from peft import LoraConfig, get_peft_model

    tokenizer = load_tokenizer(base)
    torch.manual_seed(SEED)
    config = LoraConfig(
        r=LORA.r,
        lora_alpha=LORA.alpha,
        lora_dropout=LORA.dropout,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(load_model(base), config)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4)
    tokens, started = 0, time.perf_counter()
    for epoch in range(epochs):
        order = torch.randperm(len(examples), generator=torch.Generator().manual_seed(SEED + epoch)).tolist()
        for start in range(0, len(order), BATCH):
            chosen = [examples[i] for i in order[start : start + BATCH]]
            width = max(len(example) for example in chosen)
            input_ids = torch.full((len(chosen), width), int(tokenizer.pad_token_id))
            labels = torch.full((len(chosen), width), IGNORE)
            mask = torch.zeros((len(chosen), width), dtype=torch.long)
            for row, example in enumerate(chosen):
                input_ids[row, : len(example)] = torch.tensor(example.input_ids)
                labels[row, : len(example)] = torch.tensor(example.labels)
                mask[row, : len(example)] = 1
            loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            tokens += sum(len(example) for example in chosen)
    seconds = time.perf_counter() - started
    rate = tokens / seconds
    print(f"plain peft loop: {tokens} tokens in {seconds:.1f} s: {rate:.1f} tokens/s")
    return rate


def generation_rate(model: torch.nn.Module, tokenizer: Any, prompts: list[str]) -> tuple[float, list[str]]:
    merged = model.merge_and_unload()  # type: ignore[operator]
    merged.eval()
    tokens, replies, started = 0, [], time.perf_counter()
    for prompt in prompts:
        reply = generate(merged, tokenizer, [{"role": "user", "content": prompt}], GenerationParams(max_new_tokens=48))
        tokens += reply.completion_tokens
        replies.append(reply.text)
    return tokens / (time.perf_counter() - started), replies


def adapters(base: Path, trained: torch.nn.Module, count: int, work: Path) -> dict[str, Path]:
    """``count`` distinct adapters of the base: the trained one, and copies with their LoRA weights nudged."""
    tokenizer = load_tokenizer(base)
    manifest = LLMManifest("lora", "smollm2-135m", "0" * 64, Fingerprint.of(tokenizer).__dict__, MAX_LENGTH)
    folders = {}
    state = {name: value.detach().clone() for name, value in trained.named_parameters() if "lora_" in name}
    generator = torch.Generator().manual_seed(SEED)
    for index in range(count):
        with torch.no_grad():
            for name, value in trained.named_parameters():
                if name in state:
                    value.copy_(state[name] * (1 + 0.01 * index * torch.randn(value.shape, generator=generator)))
        folder = work / "adapters" / f"model_{index:02d}"
        LLM.save(trained, tokenizer, manifest, folder)
        folders[folder.name] = folder
    with torch.no_grad():  # the trained weights back
        for name, value in trained.named_parameters():
            if name in state:
                value.copy_(state[name])
    return folders


def first_token_s(pool: AdapterPool, name: str, folder: Path) -> float:
    started = time.perf_counter()
    first: list[float] = []

    def on_text(_: Piece) -> None:
        if not first:
            first.append(time.perf_counter() - started)

    pool.generate(
        name, folder, {"prompt": "What is 2 plus 3? Answer with the number only.", "max_new_tokens": 8}, on_text
    )
    return first[0] if first else time.perf_counter() - started


def replica_rss(base: Path, folders: dict[str, Path]) -> int:
    """The resident memory of this process once it holds the base (and ``folders``' adapters) and has answered
    a prompt with each (the base alone when there are none)."""
    torch.set_num_threads(2)
    request: dict[str, Any] = {"prompt": "What is 2 plus 3?", "max_new_tokens": 4}
    if folders:
        pool = AdapterPool(base, max_adapters=len(folders))
        for name, folder in folders.items():
            pool.generate(name, folder, request)
    else:
        model = load_model(base)
        model.train(False)
        generate(model, load_tokenizer(base), [{"role": "user", "content": request["prompt"]}], GenerationParams(4))
    return int(psutil.Process().memory_info().rss)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=320)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--adapters", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory(prefix="bench-llm-") as scratch:
        work = Path(scratch)
        base = smollm2(work)
        tokenizer = load_tokenizer(base)
        data = pairs(args.pairs + 20)
        examples = [encode(tokenizer, messages_of(p, c, None)) for p, c in data[: args.pairs]]
        print(
            f"{len(examples)} pairs, {sum(len(e) for e in examples)} tokens "
            f"(mean {statistics.mean(len(e) for e in examples):.1f}); batch {BATCH}, LoRA r={LORA.r} on attention, "
            f"{args.epochs} epoch(s), {torch.get_num_threads()} torch threads"
        )
        model, ours = platform_lora(base, examples, args.epochs, work)
        theirs = plain_lora(base, examples, args.epochs)
        print(
            f"training: platform {ours:.1f} tokens/s vs plain peft {theirs:.1f}: "
            f"ratio {ours / theirs:.2f} (target >= 0.9)"
        )

        folders = adapters(base, model, args.adapters, work)  # before the merge below changes the model
        held_out = data[args.pairs :]
        rate, replies = generation_rate(model, tokenizer, [prompt for prompt, _ in held_out[:5]])
        right = sum(reply.strip() == answer for reply, (_, answer) in zip(replies, held_out[:5], strict=True))
        print(f"generation: {rate:.1f} tokens/s (greedy, merged); {right}/5 held-out sums answered exactly")
        del model
        pool = AdapterPool(base, max_adapters=args.adapters)
        names = list(folders)
        cold = [first_token_s(pool, name, folders[name]) for name in names]
        warm = [first_token_s(pool, name, folders[name]) for name in reversed(names)]  # each a switch
        del pool
        # Each in a fresh process, as a replica is: the memory of one holding the base alone (and answering),
        # and of one holding the base and every adapter (each having answered).
        with multiprocessing.get_context("spawn").Pool(1) as child:
            rss_base = child.apply(replica_rss, (base, {}))
        with multiprocessing.get_context("spawn").Pool(1) as child:
            rss_all = child.apply(replica_rss, (base, folders))
        print(
            f"{len(names)} adapters on one replica: time to first token cold (load + attach) "
            f"p50 {statistics.median(cold) * 1000:.0f} ms, warm (switch) p50 {statistics.median(warm) * 1000:.0f} ms"
        )
        print(
            f"replica memory: base alone {rss_base / 2**20:.0f} MiB, with {len(names)} adapters "
            f"{rss_all / 2**20:.0f} MiB: ratio {rss_all / rss_base:.2f} (target <= 1.2)"
        )


if __name__ == "__main__":
    main()
