"""LLM models through the gateway on a tiny Llama registered as an org's base model: a prompt / completion
snapshot trained with LoRA and a chat snapshot trained in full, each with its eval loss and perplexity per
epoch, the test loss against the base model's, greedy replies to held-out prompts stored for the parity check,
long prompts cut to fit and counted, max_length chosen from the rows when none is asked for, artifacts a plain
load can use; and the refusals."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from automl_common.storage import download_prefix
from modelkit import model_types
from modelkit.model_types.llm.generation import GenerationParams, generate
from tests.support.llm import llm_request, llm_snapshot, yes_no_records
from tests.support.platform import OrgClient, Platform
from tests.support.tiny_models import build_tiny_llama
from tests.support.training import events, model_request, register_tiny, wait_model
from trainer_svc.models import export

pytestmark = pytest.mark.slow
MAX_LENGTH = 32  # llm_request's
PAIRS = {"prompt_column": "prompt", "completion_column": "completion"}


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama") / "model")


@pytest.fixture
async def llama_base(org: OrgClient, trainer_platform: Platform, tiny_llama: Path) -> dict[str, Any]:
    base = await register_tiny(org, trainer_platform, tiny_llama, name="tiny-llama", model_type="llm")
    assert base["methods"] == ["lora", "full"], base
    return base


async def test_lora_on_prompt_and_completion_learns_and_is_measured(
    org: OrgClient,
    trainer_platform: Platform,
    llama_base: dict[str, Any],
    tiny_llama: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    snapshot = await llm_snapshot(
        org, yes_no_records(160, seed=1), prompt_column="prompt", completion_column="completion"
    )
    request = llm_request(
        llama_base["id"], snapshot["id"], "lora", max_epochs=4, learning_rate=2e-2, lora={"r": 8, "dropout": 0.0}
    )
    response = await org.post("/v1/models", json=request)
    assert response.status_code == 201, response.text
    model = await wait_model(org, response.json()["id"])
    assert model["status"] == "succeeded", model["error"]

    metrics = (await org.get(f"/v1/models/{model['id']}/metrics")).json()
    assert [row["epoch"] for row in metrics["epochs"]] == [1.0, 2.0, 3.0, 4.0]
    assert all({"train_loss", "val_loss", "val_perplexity"} <= set(row) for row in metrics["epochs"])
    overall, base = metrics["overall"], metrics["baseline"]["overall"]
    assert overall["loss"] < base["loss"] / 2, (overall, base)  # far better than the base model zero-shot
    assert overall["perplexity"] == pytest.approx(2.718281828 ** overall["loss"], rel=1e-6)
    assert metrics["delta"]["overall"]["loss"] == pytest.approx(overall["loss"] - base["loss"])
    assert metrics["baseline"]["name"].startswith("the base model tiny-llama on the same test examples")
    assert metrics["selection"]["name"] == "val_loss"
    examples = metrics["train_examples"] + metrics["validation_examples"] + metrics["test_examples"]
    # The long prompt is cut to fit (its reply kept whole), not left out: every row is learnt from or scored.
    assert examples == 161 and metrics["left_out"] == {} and metrics["test_left_out"] == {}
    assert metrics["prompts_cut"]["train"] + metrics["prompts_cut"]["test"] == 1
    assert metrics["max_length"] == MAX_LENGTH
    # Every test reply is 'yes' or 'no': the replies are also scored as a classifier's, exact match, against
    # the base model's zero-shot replies.
    reply = metrics["heads"]["reply"]
    assert set(reply["classes"]) - {"(any other reply)"} == {"yes", "no"}
    assert reply["accuracy"] > 0.9 and overall["accuracy"] == reply["accuracy"]
    assert metrics["baseline"]["heads"]["reply"]["accuracy"] < 0.7  # an untrained tiny model: mostly other
    assert metrics["delta"]["heads"]["reply"]["accuracy"] > 0.2
    assert metrics["baseline"]["name"].endswith("(zero-shot)")
    # Held-out prompts with the replies the trained model gave greedily: what a deployment must reproduce.
    parity = metrics["parity"]
    assert len(parity) == 5
    assert all(item["output"] in ("yes", "no") for item in parity), parity
    refused = await org.get(f"/v1/models/{model['id']}/metrics", params={"threshold": 0.5})
    assert refused.status_code == 422 and "no scores to apply one to" in refused.json()["detail"]

    card = (await org.get(f"/v1/models/{model['id']}/card")).text
    assert "| perplexity |" in card and "### Head `reply`" in card
    kinds = {event["kind"] for event in await events(org, model["id"])}
    assert {"started", "progress", "epoch", "checkpoint", "succeeded"} <= kinds

    # The artifacts load with the platform's loader and reproduce the stored replies.
    store = trainer_platform.apps["trainer"].state.store
    stored = (await org.get(f"/v1/models/{model['id']}")).json()
    artifacts = tmp_path / "artifacts"
    await download_prefix(store, f"orgs/{org.org_id}/models/{model['id']}/artifacts/", artifacts)
    assert (artifacts / "adapter" / "adapter_config.json").is_file(), stored
    loaded, tokenizer, manifest = model_types.llm_task("llm").load(artifacts, tiny_llama)
    assert manifest.method == "lora" and manifest.max_length == MAX_LENGTH
    for item in parity:
        reply = generate(loaded, tokenizer, item["messages"], GenerationParams(max_new_tokens=item["max_new_tokens"]))
        assert reply.text == item["output"]

    # The merged export loads with plain transformers and replies as the trained model did. It is built in a
    # process of its own: building it in this one (trainer-svc's, in these tests) would fail.
    monkeypatch.setattr(export, "_build", refuse_in_process)
    folder = await exported(org, model["id"], "merged", tmp_path / "merged")
    assert not (folder / "adapter_config.json").exists() and list(folder.glob("*.safetensors"))
    assert plain_replies(folder, parity) == [item["output"] for item in parity]
    adapter = await exported(org, model["id"], "adapter", tmp_path / "adapter")
    assert (adapter / "adapter_config.json").is_file() and (adapter / "tokenizer_config.json").is_file()
    again = await org.get(f"/v1/models/{model['id']}/export")  # the stored copy
    assert again.status_code == 200 and again.headers["content-type"] == "application/x-tar"


def refuse_in_process(*args: Any) -> None:
    raise AssertionError("the export was built in trainer-svc's own process")


async def exported(org: OrgClient, model_id: str, export_format: str, target: Path) -> Path:
    response = await org.get(f"/v1/models/{model_id}/export", params={"format": export_format})
    assert response.status_code == 200, response.text
    assert f'filename="{model_id}-{export_format}.tar"' in response.headers["content-disposition"]
    with tarfile.open(fileobj=io.BytesIO(response.content)) as archive:
        archive.extractall(target, filter="data")
    return target / model_id


def plain_replies(folder: Path, parity: list[dict[str, Any]]) -> list[str]:
    """Greedy replies with nothing of this platform: transformers' own loading, template and generate."""
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForCausalLM.from_pretrained(str(folder)).eval()
    replies = []
    for item in parity:
        rendered: Any = tokenizer.apply_chat_template(item["messages"], add_generation_prompt=True, return_tensors="pt")
        ids = rendered["input_ids"] if hasattr(rendered, "keys") else rendered
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=item["max_new_tokens"], do_sample=False)
        replies.append(str(tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)))
    return replies


async def test_full_fine_tune_on_chat_messages(org: OrgClient, llama_base: dict[str, Any], tmp_path: Path) -> None:
    snapshot = await llm_snapshot(org, yes_no_records(80, seed=2), messages_column="chat")
    response = await org.post(
        "/v1/models", json=llm_request(llama_base["id"], snapshot["id"], "full", max_epochs=2, learning_rate=5e-3)
    )
    assert response.status_code == 201, response.text
    model = await wait_model(org, response.json()["id"])
    assert model["status"] == "succeeded", model["error"]
    metrics = (await org.get(f"/v1/models/{model['id']}/metrics")).json()
    assert metrics["overall"]["loss"] < metrics["baseline"]["overall"]["loss"]
    assert len(metrics["epochs"]) == 2
    assert model["metrics"]["overall"]["perplexity"] == pytest.approx(metrics["overall"]["perplexity"])
    folder = await exported(org, model["id"], "merged", tmp_path)
    assert plain_replies(folder, metrics["parity"]) == [item["output"] for item in metrics["parity"]]
    refused = await org.get(f"/v1/models/{model['id']}/export", params={"format": "adapter"})
    assert refused.status_code == 422 and "adapter is for LoRA models" in refused.json()["detail"]


async def test_what_an_llm_cannot_be_asked(
    org: OrgClient, llama_base: dict[str, Any], tiny_base: dict[str, Any]
) -> None:
    snapshot = await llm_snapshot(
        org, yes_no_records(20, seed=3), prompt_column="prompt", completion_column="completion"
    )
    cases = [
        (llm_request(llama_base["id"], snapshot["id"], "last_layer"), "method: 'last_layer' is not available"),
        (llm_request(tiny_base["id"], snapshot["id"], "lora"), "is for text_classification, not llm"),
        (
            llm_request(llama_base["id"], snapshot["id"], "lora") | {"parent_model_id": "model_" + "0" * 26},
            "parent_model_id: llm models start from their base model",
        ),
        (
            model_request(tiny_base["id"], snapshot["id"], "full") | {"model_type": "text_classification"},
            "train_snapshot_id: snapshot is llm, the model text_classification",
        ),
        (  # no model_type: the snapshot's, which the text base model is not for
            model_request(tiny_base["id"], snapshot["id"], "full"),
            "is for text_classification, not llm (the training snapshot's type)",
        ),
    ]
    for request, reason in cases:
        response = await org.post("/v1/models", json=request)
        assert response.status_code == 422, (request, response.text)
        assert reason in response.json()["detail"], response.text
    unknown = await org.get(f"/v1/models/model_{'0' * 26}/export")
    assert unknown.status_code == 404
    bad_format = await org.get(f"/v1/models/model_{'0' * 26}/export", params={"format": "gguf"})
    assert bad_format.status_code == 422


async def test_free_form_replies_are_measured_by_loss_alone(org: OrgClient, llama_base: dict[str, Any]) -> None:
    """More distinct replies than a classifier's labels: no exact-match report, the loss and perplexity only."""
    words = ["good", "bad", "fine", "sad", "great", "awful", "happy", "poor", "lovely", "terrible", "horrid"]
    rows = [
        {"prompt": f"is it {a}", "completion": f"{b} {c} {a}", "chat": []}
        for a in words
        for b in ("yes", "no", "maybe", "answer")
        for c in ("really", "quite", "very")
    ]  # 132 different replies: a quarter of them is more than a classifier's labels
    snapshot = await llm_snapshot(org, rows, **PAIRS)
    response = await org.post("/v1/models", json=llm_request(llama_base["id"], snapshot["id"], "lora", max_epochs=1))
    model = await wait_model(org, response.json()["id"])
    assert model["status"] == "succeeded", model["error"]
    metrics = (await org.get(f"/v1/models/{model['id']}/metrics")).json()
    assert metrics["heads"] == {} and set(metrics["overall"]) == {"loss", "perplexity"}
    assert metrics["baseline"]["name"].endswith("on the same test examples")
    assert "On the test examples" in (await org.get(f"/v1/models/{model['id']}/card")).text


async def test_without_max_length_the_run_makes_room_for_its_rows(org: OrgClient, llama_base: dict[str, Any]) -> None:
    """No max_length asked: the run takes one that holds 99% of its training rows whole (at least 128 tokens),
    so nothing is cut or left out; a reply longer than an asked max_length leaves its row out, counted."""
    records = yes_no_records(40, seed=3, overlong=False)
    records += [{"prompt": "is it " + "very " * 150 + "good", "completion": "yes", "chat": records[0]["chat"]}]
    records += [{"prompt": "is it good", "completion": "yes " * 60, "chat": records[0]["chat"]}]
    snapshot = await llm_snapshot(org, records, **PAIRS)
    request = llm_request(llama_base["id"], snapshot["id"], "lora", max_epochs=1)
    del request["options"]["max_length"]
    model = await wait_model(org, (await org.post("/v1/models", json=request)).json()["id"])
    assert model["status"] == "succeeded", model["error"]
    metrics = (await org.get(f"/v1/models/{model['id']}/metrics")).json()
    assert metrics["max_length"] >= 128 and metrics["max_length"] % 64 == 0
    assert model["options"]["max_length"] == metrics["max_length"]  # the model shows the length the run chose
    assert metrics["left_out"] == {} and metrics["test_left_out"] == {}
    assert metrics["train_examples"] + metrics["validation_examples"] + metrics["test_examples"] == 42

    tight = llm_request(llama_base["id"], snapshot["id"], "lora", max_epochs=1, max_length=48)
    model = await wait_model(org, (await org.post("/v1/models", json=tight)).json()["id"])
    assert model["status"] == "succeeded", model["error"]
    metrics = (await org.get(f"/v1/models/{model['id']}/metrics")).json()
    left_out = metrics["left_out"].get("reply_too_long", 0) + metrics["test_left_out"].get("reply_too_long", 0)
    assert left_out == 1  # the 60-word reply: never cut
    assert metrics["prompts_cut"]["train"] + metrics["prompts_cut"]["test"] == 1  # the 150-word prompt
