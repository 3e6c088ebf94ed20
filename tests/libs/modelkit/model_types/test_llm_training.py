"""The llm type trained and generated from on a tiny Llama built here: LoRA and full through the shared loop
(eval loss and perplexity per evaluation, only the method's weights move), artifacts saved and loaded with the
template fingerprint checked, and generation with each parameter."""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from automl_proto.models import LoraOptions, TrainingOptions
from modelkit import model_types
from modelkit.model_types import ModelTypeError
from modelkit.model_types.llm import ArtifactMismatch, LLMManifest, load_model, load_tokenizer
from modelkit.model_types.llm.chat import Encoded, Fingerprint, encode, messages_of
from modelkit.model_types.llm.generation import GenerationParams, generate
from modelkit.model_types.llm.training import CausalLMObjective, evaluate_loss
from modelkit.training.loop import FitResult, NoHooks, train
from tests.support.tiny_models import NEGATIVE, POSITIVE, build_tiny_llama

LLM = model_types.llm_task("llm")


class Hooks(NoHooks):
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def evaluated(self, record: dict[str, Any]) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("llama") / "model")


def sentiment_pairs(count: int, seed: int) -> list[tuple[str, str]]:
    """'is it <word>' answered 'yes' for a positive word, 'no' for a negative one."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(count):
        word = rng.choice(POSITIVE + NEGATIVE)
        pairs.append((f"is it {word}", "yes" if word in POSITIVE else "no"))
    return pairs


def examples(tokenizer: Any, pairs: list[tuple[str, str]]) -> list[Encoded]:
    return [encode(tokenizer, messages_of(prompt, completion, None)) for prompt, completion in pairs]


def trained(tiny: Path, method: str, **options: Any) -> tuple[torch.nn.Module, Any, FitResult, list[dict[str, Any]]]:
    tokenizer = load_tokenizer(tiny)
    settings = TrainingOptions(max_length=64, seed=3, **options).resolved(method, LLM.info.method_defaults[method])
    torch.manual_seed(3)
    model = LLM.apply_method(load_model(tiny), method, LoraOptions(r=8, alpha=16, dropout=0.0))
    objective = CausalLMObjective(
        model,
        settings,
        examples(tokenizer, sentiment_pairs(96, seed=1)),
        examples(tokenizer, sentiment_pairs(24, seed=2)),
        tokenizer.pad_token_id,
    )
    hooks = Hooks()
    result = train(objective, settings, hooks)
    return model, tokenizer, result, hooks.records


def test_lora_learns_the_replies_and_moves_only_the_adapters(tiny: Path) -> None:
    base = {name: p.detach().clone() for name, p in load_model(tiny).named_parameters()}
    model, tokenizer, _, records = trained(tiny, "lora", learning_rate=2e-2, max_epochs=6)
    assert [record["epoch"] for record in records] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    for record in records:
        assert record["val_perplexity"] == pytest.approx(torch.tensor(record["val_loss"]).exp().item(), rel=1e-6)
    assert records[-1]["val_loss"] < records[0]["val_loss"] / 2, records
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in name for name in trainable)
    merged = model.merge_and_unload()  # type: ignore[operator]
    for name, value in merged.named_parameters():
        if not any(part in name for part in ("q_proj", "k_proj", "v_proj", "o_proj")):
            assert torch.equal(value, base[name]), name  # nothing outside the adapted projections moved
    reply = generate(merged, tokenizer, [{"role": "user", "content": "is it lovely"}], GenerationParams())
    assert (reply.text, reply.finish_reason) == ("yes", "stop")
    assert generate(merged, tokenizer, [{"role": "user", "content": "is it awful"}], GenerationParams()).text == "no"


def test_full_fine_tuning_moves_every_weight_and_lowers_the_loss(tiny: Path) -> None:
    tokenizer = load_tokenizer(tiny)
    held_out = examples(tokenizer, sentiment_pairs(24, seed=9))
    before = evaluate_loss(load_model(tiny), held_out, 64, tokenizer.pad_token_id)
    model, _, result, records = trained(tiny, "full", learning_rate=5e-3, max_epochs=3)
    assert all(p.requires_grad for p in model.parameters())
    after = evaluate_loss(model, held_out, 64, tokenizer.pad_token_id)
    assert after["loss"] < before["loss"] / 2, (before, after)
    assert result.best_epoch == min(records, key=lambda record: record["val_loss"])["epoch"]


@pytest.mark.parametrize("method", ["lora", "full"])
def test_saved_artifacts_generate_as_the_trained_model_did(tiny: Path, tmp_path: Path, method: str) -> None:
    model, tokenizer, _, _ = trained(tiny, method, learning_rate=1e-2, max_epochs=2)
    prompt = [{"role": "user", "content": "is it sad"}]
    expected = generate(model, tokenizer, prompt, GenerationParams(max_new_tokens=6))
    manifest = LLMManifest(method, "bm_x", "0" * 64, Fingerprint.of(tokenizer).__dict__, 64)
    LLM.save(model, tokenizer, manifest, tmp_path / "artifacts")
    assert (tmp_path / "artifacts" / ("adapter" if method == "lora" else "model")).is_dir()
    loaded, loaded_tokenizer, loaded_manifest = LLM.load(tmp_path / "artifacts", tiny)
    assert loaded_manifest == manifest
    assert generate(loaded, loaded_tokenizer, prompt, GenerationParams(max_new_tokens=6)) == expected


def test_a_tokenizer_or_template_other_than_the_trained_one_is_refused(tiny: Path, tmp_path: Path) -> None:
    model, tokenizer, _, _ = trained(tiny, "lora", max_epochs=1)
    manifest = LLMManifest("lora", "bm_x", "0" * 64, Fingerprint.of(tokenizer).__dict__, 64)
    LLM.save(model, tokenizer, manifest, tmp_path / "artifacts")
    config = tmp_path / "artifacts" / "tokenizer" / "tokenizer_config.json"
    template = tmp_path / "artifacts" / "tokenizer" / "chat_template.jinja"
    target = template if template.is_file() else config
    target.write_text(target.read_text().replace("<|im_start|>assistant ", "<|im_start|>bot "))
    with pytest.raises(ArtifactMismatch, match="chat_template_sha256: trained with"):
        LLM.load(tmp_path / "artifacts", tiny)


def test_generation_parameters(tiny: Path) -> None:
    tokenizer = load_tokenizer(tiny)
    model = load_model(tiny).eval()
    prompt = [{"role": "user", "content": "is it good"}]
    greedy = generate(model, tokenizer, prompt, GenerationParams(max_new_tokens=12))
    assert greedy == generate(model, tokenizer, prompt, GenerationParams(max_new_tokens=12))  # deterministic
    rendered: Any = tokenizer.apply_chat_template(prompt, add_generation_prompt=True)
    assert greedy.prompt_tokens == len(rendered["input_ids"])
    # max_new_tokens bounds the reply (an untrained model rarely says EOS: it ends by length)
    short = generate(model, tokenizer, prompt, GenerationParams(max_new_tokens=3))
    assert short.completion_tokens <= 3
    if short.finish_reason == "length":
        assert short.completion_tokens == 3
    # a seed makes sampling repeatable; other seeds sample other replies
    sampled = [
        generate(model, tokenizer, prompt, GenerationParams(max_new_tokens=12, temperature=1.5, seed=seed))
        for seed in (1, 1, 2, 3, 4)
    ]
    assert sampled[0] == sampled[1]
    assert len({item.text for item in sampled}) > 1
    # top_p that keeps only the likeliest token samples the greedy reply
    narrow_params = GenerationParams(max_new_tokens=12, temperature=1.0, top_p=1e-6, seed=5)
    narrow = generate(model, tokenizer, prompt, narrow_params)
    assert narrow.text == greedy.text
    # a stop string ends the reply before it
    words = greedy.text.split()
    assert len(words) >= 3, greedy
    stopped = generate(model, tokenizer, prompt, GenerationParams(max_new_tokens=12, stop=(words[2],)))
    assert stopped.finish_reason == "stop"
    assert words[2] not in stopped.text and greedy.text.startswith(stopped.text)


def test_a_folder_that_is_not_a_chat_causal_lm_is_refused(tiny: Path, tmp_path: Path) -> None:
    LLM.check_base_model(tiny)
    no_template = shutil.copytree(tiny, tmp_path / "no-template")
    for name in ("chat_template.jinja",):
        (no_template / name).unlink(missing_ok=True)
    config = no_template / "tokenizer_config.json"
    config.write_text(config.read_text().replace('"chat_template"', '"unused_template"'))
    with pytest.raises(ModelTypeError, match="no chat template"):
        LLM.check_base_model(no_template)
    encoder_only = shutil.copytree(tiny, tmp_path / "encoder")
    config = encoder_only / "config.json"
    config.write_text(config.read_text().replace("LlamaForCausalLM", "BertModel"))
    with pytest.raises(ModelTypeError, match="no causal LM architecture"):
        LLM.check_base_model(encoder_only)
