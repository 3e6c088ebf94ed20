"""The llm type's data preparation on a tiny Llama built here: the chat template applied, loss only on the
assistant's tokens (checked on the labels), fingerprints, and packing without attention across examples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from modelkit.model_types.llm.chat import IGNORE, ChatFormatError, Encoded, Fingerprint, encode, messages_of
from modelkit.model_types.llm.packing import pack
from tests.support.tiny_models import build_tiny_llama


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("llama") / "model")


def labelled_tokens(tokenizer: Any, encoded: Encoded) -> list[str]:
    labelled = [t for t, label in zip(encoded.input_ids, encoded.labels, strict=True) if label != IGNORE]
    return list(tokenizer.convert_ids_to_tokens(labelled))


def ids(rendered: Any) -> list[int]:
    return list(rendered["input_ids"] if hasattr(rendered, "keys") else rendered)


def test_only_the_completion_and_its_eos_are_labelled(tiny: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(str(tiny))
    encoded = encode(tokenizer, messages_of("is it good", "yes", None))
    prompt_ids = ids(
        tokenizer.apply_chat_template([{"role": "user", "content": "is it good"}], add_generation_prompt=True)
    )
    assert encoded.input_ids[: len(prompt_ids)] == prompt_ids
    assert encoded.labels[: len(prompt_ids)] == [IGNORE] * len(prompt_ids)
    assert encoded.labels[len(prompt_ids) :] == encoded.input_ids[len(prompt_ids) :]
    assert encoded.input_ids[-1] == tokenizer.eos_token_id  # the model learns to stop
    assert labelled_tokens(tokenizer, encoded) == ["yes", "<|im_end|>"]


def test_every_assistant_turn_of_a_chat_is_labelled_and_nothing_else(tiny: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(str(tiny))
    messages = [
        {"role": "system", "content": "answer yes or no"},
        {"role": "user", "content": "is it good"},
        {"role": "assistant", "content": "yes"},
        {"role": "user", "content": "is it bad"},
        {"role": "assistant", "content": "no maybe"},
    ]
    encoded = encode(tokenizer, messages_of(None, None, messages))
    assert labelled_tokens(tokenizer, encoded) == ["yes", "<|im_end|>", "no", "maybe", "<|im_end|>"]
    assert encoded.input_ids == ids(
        tokenizer.apply_chat_template(messages, tokenize=True)
    )  # the same tokens the template gives the whole conversation


@pytest.mark.parametrize(
    ("messages", "reason"),
    [
        ([{"role": "user", "content": "hi"}], "no assistant turn"),
        ([{"role": "robot", "content": "hi"}, {"role": "assistant", "content": "x"}], r"messages\[0\]: needs a role"),
        ([{"role": "user", "content": 3}, {"role": "assistant", "content": "x"}], r"messages\[0\]"),
    ],
)
def test_bad_messages_are_refused_with_the_reason(messages: list[dict[str, object]], reason: str) -> None:
    with pytest.raises(ChatFormatError, match=reason):
        messages_of(None, None, messages)


def test_the_fingerprint_names_what_changed(tiny: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(str(tiny))
    trained = Fingerprint.of(tokenizer)
    assert trained.differences(Fingerprint.of(AutoTokenizer.from_pretrained(str(tiny)))) == []
    tokenizer.chat_template = str(tokenizer.chat_template).replace("<|im_end|>\n", "<|im_end|>")
    changed = trained.differences(Fingerprint.of(tokenizer))
    assert len(changed) == 1 and changed[0].startswith("chat_template_sha256: trained with")


def test_packed_examples_do_not_attend_to_each_other(tiny: Path) -> None:
    """Logits of examples packed in one row equal their logits run alone, so no token saw another example."""
    tokenizer = AutoTokenizer.from_pretrained(str(tiny))
    model = AutoModelForCausalLM.from_pretrained(str(tiny)).eval()
    examples = [
        encode(tokenizer, messages_of(prompt, completion, None))
        for prompt, completion in [("is it good", "yes"), ("is it bad today", "no"), ("what", "maybe yes")]
    ]
    packed, too_long = pack([len(e) for e in examples], max_length=64)
    assert too_long == [] and len(packed.rows) == 1 and sorted(packed.rows[0]) == [0, 1, 2]
    batch = packed.batch(examples, tokenizer.pad_token_id)
    with torch.no_grad():
        together = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits[0]
        start = 0
        for index in packed.rows[0]:
            alone = model(input_ids=torch.tensor([examples[index].input_ids])).logits[0]
            assert torch.allclose(together[start : start + len(alone)], alone, atol=1e-5), index
            start += len(alone)
    starts = [sum(len(examples[i]) for i in packed.rows[0][:k]) for k in range(3)]
    assert all(batch["labels"][0, s] == IGNORE for s in starts)  # no example's first token predicted across


def test_rows_respect_the_length_and_overlong_examples_are_left_apart() -> None:
    packed, too_long = pack([30, 20, 50, 70, 10, 40], max_length=60)
    assert too_long == [3]
    assert all(sum([30, 20, 50, 70, 10, 40][i] for i in row) <= 60 for row in packed.rows)
    assert sorted(i for row in packed.rows for i in row) == [0, 1, 2, 4, 5]


def test_a_long_prompt_is_cut_in_its_middle_and_the_reply_kept_whole(tiny: Path) -> None:
    from modelkit.model_types.llm.chat import ELLIPSIS, default_max_length, fit

    tokenizer = AutoTokenizer.from_pretrained(str(tiny))
    prompt = "is it " + " ".join(["lovely"] * 80) + " good"  # words of the tiny vocabulary
    messages = messages_of(prompt, "yes", None)
    whole = encode(tokenizer, messages)
    fitted = fit(tokenizer, messages, 40)
    assert fitted is not None and fitted.cut and len(fitted.encoded) <= 40 < len(whole)
    content = fitted.messages[0]["content"]
    assert content.startswith("is it lovely") and content.endswith("lovely good") and ELLIPSIS in content
    assert labelled_tokens(tokenizer, fitted.encoded) == labelled_tokens(tokenizer, whole)  # the reply, whole
    short = fit(tokenizer, messages_of("is it good", "yes", None), 40)
    assert short is not None and not short.cut and short.messages == messages_of("is it good", "yes", None)
    assert fit(tokenizer, messages_of("is it good", "yes " * 50, None), 40) is None  # the reply alone is too long
    assert default_max_length([30] * 99 + [700]) == 128
    assert default_max_length([150] * 50 + [300] * 50) == 320
    assert default_max_length([5000] * 10) == 1024
