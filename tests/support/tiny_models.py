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

    from modelkit.tasks.image_classification import backbones

    torch.manual_seed(0)
    backbones.save(backbones.build(TINY_IMAGE_CONFIG), target)
    return target
