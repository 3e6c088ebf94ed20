"""A SmolLM2-135M-sized causal LM through the platform's own llm path:

- LoRA training (the registry's llm type: its chat encoding, packing and ``CausalLMObjective`` on the shared
  loop) at the default precision (bf16 on a GPU that has it): tokens/s and peak GPU memory;
- the trained adapter saved as the worker saves it and loaded as a replica loads it (``LLMPredictor``,
  merged, on the device): greedy generation tokens/s;
- ``ADAPTERS`` adapters on one ``AdapterPool`` (the shared-base replica's): the first token of each
  adapter's first request (cold: the adapter loaded) and of its second (warm), p50."""

from __future__ import annotations

import shutil
import tempfile
import time
from functools import partial
from pathlib import Path

import torch

from automl_proto.models import TrainingOptions
from bench.gpu import models
from bench.gpu.common import Setup, gib, number, peak_memory, percentile, sized, timed
from modelkit import model_types
from modelkit.model_types.llm import LLMManifest, load_model, load_tokenizer
from modelkit.model_types.llm.adapters import AdapterPool
from modelkit.model_types.llm.chat import Encoded, Fingerprint, encode, messages_of
from modelkit.model_types.llm.predict import LLMPredictor
from modelkit.model_types.llm.training import CausalLMObjective
from modelkit.training.loop import NoHooks, train

ADAPTERS = 20
PROMPT = {"role": "user", "content": "w1 w2 w3 w4 w5 w6 w7 w8"}


def encoded(
    base_dir: Path, config: dict[str, object], count: int, prompt_words: int, reply_words: int
) -> list[Encoded]:
    tokenizer = load_tokenizer(base_dir)
    return [
        encode(tokenizer, messages_of(None, None, messages))
        for messages in models.conversations(config, count, prompt_words, reply_words)
    ]


def lora_model(base_dir: Path, device: torch.device) -> torch.nn.Module:
    torch.manual_seed(0)
    model = model_types.llm_task("llm").apply_method(load_model(base_dir), "lora", None)
    model.to(device)
    return model


def run(setup: Setup) -> str:
    config = models.TINY_LLAMA if setup.tiny else models.SMOLLM2_135M
    prompt_words, reply_words = (6, 6) if setup.tiny else (160, 96)
    max_length = 64 if setup.tiny else 512
    batch = 4 if setup.tiny else 8
    with tempfile.TemporaryDirectory(prefix="gpu-llm-") as directory:
        work = Path(directory)
        base_dir = models.causal_lm(config, work / "base")
        tokenizer = load_tokenizer(base_dir)
        pad_id = int(tokenizer.pad_token_id)
        options = TrainingOptions(max_epochs=1, batch_size=batch, learning_rate=2e-4, seed=0, max_length=max_length)
        validation = encoded(base_dir, config, batch, prompt_words, reply_words)

        # Training: a short run to warm up and measure, then one sized to a few seconds.
        warm_model = lora_model(base_dir, setup.device)
        warm_data = encoded(base_dir, config, batch * 3, prompt_words, reply_words)
        warm = CausalLMObjective(warm_model, options, warm_data, validation, pad_id)
        warm_result = train(warm, options, NoHooks(), None)
        del warm_model
        rate = len(warm_data) / warm_result.seconds
        count = sized(rate, setup.seconds(8), batch, batch * 2, 3_000)
        model = lora_model(base_dir, setup.device)
        objective = CausalLMObjective(
            model, options, encoded(base_dir, config, count, prompt_words, reply_words), validation, pad_id
        )
        with peak_memory(setup.device) as memory:
            result = train(objective, options, NoHooks(), None)
        tokens_per_s = objective.tokens_trained / result.seconds

        # The adapter as the worker saves it, then as a replica loads it.
        artifact = work / "model"
        manifest = LLMManifest("lora", "base", "0" * 64, Fingerprint.of(tokenizer).__dict__, max_length)
        model_types.llm_task("llm").save(model, tokenizer, manifest, artifact)
        del model, objective
        predictor = LLMPredictor.load(artifact, base_dir, str(setup.device))
        new_tokens = 16 if setup.tiny else 256
        predictor.generate({"messages": [PROMPT], "max_new_tokens": 8})  # warm-up
        request = {"messages": [PROMPT], "max_new_tokens": new_tokens}
        reply, seconds = timed(setup.device, partial(predictor.generate, request))
        generated = int(reply["usage"]["completion_tokens"])
        del predictor

        # Many adapters on one base: each one's first request loads it.
        folders = []
        for index in range(ADAPTERS):
            folder = work / f"adapter-{index}"
            shutil.copytree(artifact, folder)
            folders.append(folder)
        pool = AdapterPool(base_dir, max_adapters=ADAPTERS, device=str(setup.device))
        one_token = {"messages": [PROMPT], "max_new_tokens": 1}
        cold: list[float] = []
        warm_first: list[float] = []
        for round_times in (cold, warm_first):
            for index, folder in enumerate(folders):
                started = time.perf_counter()
                pool.generate(f"model-{index}", folder, dict(one_token))
                round_times.append(time.perf_counter() - started)
    return (
        f"LoRA r=8 train: {number(tokens_per_s)} tokens/s, {gib(setup, memory[0])} "
        f"({count} examples of ~{prompt_words + reply_words} words, batch {batch}, packed to {max_length}); "
        f"greedy generation: {number(generated / seconds)} tokens/s ({generated} tokens); "
        f"{ADAPTERS} adapters on one pool, first token p50 cold {percentile(cold, 0.5) * 1000:.0f} ms, "
        f"warm {percentile(warm_first, 0.5) * 1000:.0f} ms ({pool.switches} switches)"
    )
