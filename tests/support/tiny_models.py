"""Tiny transformers models built in the tests (no hub): a 2-layer BERT with a word-level vocabulary."""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
POSITIVE = ["good", "great", "fine", "lovely", "excellent", "happy"]
NEGATIVE = ["bad", "awful", "poor", "terrible", "sad", "horrid"]
TOPICS = {
    "sport": ["sport", "football", "tennis", "match", "goal"],
    "music": ["music", "song", "guitar", "concert", "band"],
    "news": ["news", "politics", "vote", "election"],
}
FILLER = [
    "the",
    "a",
    "is",
    "was",
    "this",
    "that",
    "it",
    "and",
    "very",
    "really",
    "quite",
    "so",
    "of",
    "to",
    "in",
    "on",
    "with",
    "for",
    "my",
    "your",
    "today",
]
WORDS = POSITIVE + NEGATIVE + [word for words in TOPICS.values() for word in words] + FILLER


def build_tiny_bert(directory: Path, *, hidden: int = 32, layers: int = 2, seed: int = 0) -> Path:
    import torch

    directory.mkdir(parents=True, exist_ok=True)
    vocab = {token: index for index, token in enumerate(SPECIALS + WORDS)}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        model_max_length=64,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    fast.save_pretrained(str(directory))
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=hidden * 2,
        max_position_embeddings=64,
    )
    BertModel(config, add_pooling_layer=False).save_pretrained(str(directory))
    return directory


TINY_IMAGE_CONFIG = {
    "model_type": "mobilenet_v2",
    "width_mult": 0.25,
    "blocks": [[1, 8, 1, 1], [6, 16, 1, 2]],
    "last_channel": 32,
    "image_size": 32,
}


def build_tiny_image_model(target: Path) -> Path:
    """A 2-block MobileNetV2 (random weights, 32 px) in the folder format image base models use."""
    import torch

    from modelkit.model_types.image_classification import backbones

    torch.manual_seed(0)
    backbones.save(backbones.build(TINY_IMAGE_CONFIG), target)
    return target


CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }} {{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant {% endif %}"
)
CHAT_SPECIALS = ["<pad>", "<unk>", "<|im_start|>", "<|im_end|>"]
CHAT_WORDS = ["system", "user", "assistant", "yes", "no", "maybe", "answer", "question", *WORDS]


def build_tiny_llama(directory: Path, *, seed: int = 0, initializer_range: float = 0.2) -> Path:
    """A 2-layer Llama-style causal LM with a word-level tokenizer and a ChatML-like chat template."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    directory.mkdir(parents=True, exist_ok=True)
    vocab = {token: index for index, token in enumerate(CHAT_SPECIALS + CHAT_WORDS)}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        model_max_length=256,
        pad_token="<pad>",
        unk_token="<unk>",
        eos_token="<|im_end|>",
        bos_token="<|im_start|>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
    )
    fast.chat_template = CHATML
    fast.save_pretrained(str(directory))
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        pad_token_id=vocab["<pad>"],
        eos_token_id=vocab["<|im_end|>"],
        bos_token_id=vocab["<|im_start|>"],
        # Wider than transformers' default (0.02): the output layer's rows are then long enough for logits to
        # peak, as a pretrained model's do, so LoRA on attention alone can learn (at 0.02 they stay near uniform).
        initializer_range=initializer_range,
    )
    LlamaForCausalLM(config).save_pretrained(str(directory))
    return directory
