"""llm models served through the gateway on the local Ray: the playground, a deployment (ready only once its
replies to the held-out prompts match the trained model's), predict with prompts, OpenAI-compatible chat
completions and completions whole and streamed as server-sent events, each generation parameter, tokens
metered in /v1/usage, a deployment-scoped key, the refusals, and a deployment failing its parity check."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from automl_client import AsyncClient
from automl_client.config import Config
from automl_common.storage import create_store
from tests.services.inference_svc.conftest import deploy, events_of, tokens_of
from tests.services.inference_svc.test_tasks_keys_usage import wait_task
from tests.support.platform import OrgClient, Platform

pytestmark = pytest.mark.slow


async def test_the_playground_answers_a_prompt_and_meters_its_tokens(org: OrgClient, llm_model: dict[str, Any]) -> None:
    path = f"/v1/models/{llm_model['id']}/playground"
    first = await org.post(path, json={"input": {"prompt": "is it lovely", "max_new_tokens": 8}})
    assert first.status_code == 200, first.text
    reply = first.json()
    assert (reply["text"], reply["finish_reason"]) == ("yes", "stop")
    assert reply["usage"]["completion_tokens"] == 1 and reply["usage"]["prompt_tokens"] > 3
    second = await org.post(path, json={"input": {"messages": [{"role": "user", "content": "is it awful"}]}})
    assert second.json()["text"] == "no"
    assert int(second.headers["x-playground-remaining"]) == int(first.headers["x-playground-remaining"]) - 1
    prompt_tokens, completion_tokens = await tokens_of(org, llm_model["id"])
    assert completion_tokens == 2
    assert prompt_tokens == reply["usage"]["prompt_tokens"] + second.json()["usage"]["prompt_tokens"]
    refused = await org.post(path, json={"input": "is it lovely"})  # a text, not a prompt
    assert refused.status_code == 422 and "takes a prompt or messages" in refused.json()["detail"]


async def test_the_playground_chats_whole_or_streamed_within_its_quota(
    org: OrgClient, llm_model: dict[str, Any], trained_model: dict[str, Any]
) -> None:
    path = f"/v1/models/{llm_model['id']}/playground/chat/completions"
    question: dict[str, Any] = {"messages": [{"role": "user", "content": "is it lovely"}], "temperature": 0}
    whole = await org.post(path, json=question)
    assert whole.status_code == 200, whole.text
    assert whole.json()["choices"][0]["message"]["content"] == "yes"
    left = int(whole.headers["x-playground-remaining"])
    streamed = await org.post(path, json=question | {"stream": True})
    assert streamed.status_code == 200 and streamed.headers["content-type"].startswith("text/event-stream")
    assert int(streamed.headers["x-playground-remaining"]) == left - 1
    events = events_of(streamed.text)
    assert events[-1] == "[DONE]"
    pieces = "".join(
        event["choices"][0]["delta"].get("content", "") for event in events[:-1] if isinstance(event, dict)
    )
    assert pieces == "yes"
    assert events[-2]["usage"]["completion_tokens"] == whole.json()["usage"]["completion_tokens"]
    usage = [row for row in (await org.get("/v1/usage")).json()["items"] if row["deployment_id"] == llm_model["id"]]
    assert sum(row["completion_tokens"] for row in usage) >= 2 * whole.json()["usage"]["completion_tokens"]
    refused = await org.post(f"/v1/models/{trained_model['id']}/playground/chat/completions", json=question)
    assert refused.status_code == 422 and "does not generate text" in refused.json()["detail"]
    # Refused: the query was not counted.
    after = await org.post(path, json=question)
    assert int(after.headers["x-playground-remaining"]) == left - 2
    key = org.headers["authorization"].split()[-1]
    async with AsyncClient(config=Config(url=str(org.base_url).rstrip("/"), api_key=key)) as sdk:
        reply, remaining = await sdk.models.chat(llm_model["id"], **question)
    assert reply.choices[0].message.content == "yes" and remaining == left - 3


async def test_lora_models_of_one_base_share_one_playground_replica(
    org: OrgClient, inference_platform: Platform, llm_model: dict[str, Any], reversed_model: dict[str, Any]
) -> None:
    """Both answer through the playground from one adapter app (the base held once), each with its adapter."""
    for _ in range(2):  # back and forth: adapters switch on the one replica
        for model, expected in ((llm_model, "yes"), (reversed_model, "no")):
            answer = await org.post(f"/v1/models/{model['id']}/playground", json={"input": {"prompt": "is it good"}})
            assert answer.status_code == 200, answer.text
            assert answer.json()["text"] == expected
    states = await inference_platform.apps["inference"].state.manager.runtime.states()
    # Serve apps outlive a platform on the process's one Ray: count this platform's only (its prefix).
    own = f"{inference_platform.apps['inference'].state.settings.serve_app_prefix}-adapters-"
    assert len([name for name in states if name.startswith(own)]) == 1, sorted(states)


async def test_a_deployment_answers_predict_and_openai_calls(org: OrgClient, llm_deployment: dict[str, Any]) -> None:
    base = f"/v1/deployments/{llm_deployment['id']}"
    predicted = await org.post(f"{base}/predict", json={"inputs": [{"prompt": "is it good"}, {"prompt": "is it sad"}]})
    assert predicted.status_code == 200, predicted.text
    assert [output["text"] for output in predicted.json()["outputs"]] == ["yes", "no"]

    chat = await org.post(
        f"{base}/chat/completions",
        json={"model": "x", "messages": [{"role": "user", "content": "is it great"}], "temperature": 0},
    )
    assert chat.status_code == 200, chat.text
    body = chat.json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl_")
    assert body["choices"] == [
        {"index": 0, "message": {"role": "assistant", "content": "yes"}, "finish_reason": "stop"}
    ]
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]

    completion = await org.post(f"{base}/completions", json={"prompt": "is it poor", "temperature": 0})
    assert completion.status_code == 200, completion.text
    assert completion.json()["object"] == "text_completion"
    assert completion.json()["choices"][0]["text"] == "no"


async def test_streamed_replies_add_up_to_the_whole_one(org: OrgClient, llm_deployment: dict[str, Any]) -> None:
    base = f"/v1/deployments/{llm_deployment['id']}"
    # Sampled hot enough to say more than one word: the pieces must add up to the whole reply of the same seed.
    request = {
        "messages": [{"role": "user", "content": "is it happy"}],
        "temperature": 2.0,
        "seed": 7,
        "max_tokens": 12,
    }
    whole = (await org.post(f"{base}/chat/completions", json=request)).json()
    streamed = await org.post(f"{base}/chat/completions", json=request | {"stream": True})
    assert streamed.status_code == 200, streamed.text
    assert streamed.headers["content-type"].startswith("text/event-stream")
    events = events_of(streamed.text)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(chunk["object"] == "chat.completion.chunk" and chunk["id"] == chunks[0]["id"] for chunk in chunks)
    text = "".join(chunk["choices"][0]["delta"].get("content", "") for chunk in chunks)
    assert text == whole["choices"][0]["message"]["content"]
    assert chunks[-1]["choices"][0]["finish_reason"] == whole["choices"][0]["finish_reason"]
    assert chunks[-1]["usage"] == whole["usage"]

    plain = await org.post(f"{base}/completions", json={"prompt": "is it bad", "temperature": 0, "stream": True})
    events = events_of(plain.text)
    assert "".join(event["choices"][0]["text"] for event in events[:-1]) == "no"
    assert events[-2]["choices"][0]["finish_reason"] == "stop" and events[-1] == "[DONE]"


async def test_the_sdk_and_the_cli_stream_a_chat(org: OrgClient, llm_deployment: dict[str, Any]) -> None:
    """``deployments.chat(..., stream=True)`` and ``models.chat(..., stream=True)`` yield the reply's pieces
    (the last with the usage), as OpenAI's client does; ``automl chat`` prints them as they come, a deployment
    or a model named by its name."""
    from typer.testing import CliRunner

    from automl_client import AsyncClient
    from automl_client.cli import app

    messages = [{"role": "user", "content": "is it bad"}]
    async with AsyncClient(str(org.base_url), org.admin_key) as sdk:
        whole = await sdk.deployments.chat(llm_deployment["id"], messages=messages, temperature=0)
        chunks = [chunk async for chunk in await sdk.deployments.chat(
            llm_deployment["id"], messages=messages, temperature=0, stream=True
        )]  # fmt: skip
        played = [chunk async for chunk in await sdk.models.chat(
            llm_deployment["model_id"], messages=messages, temperature=0, stream=True
        )]  # fmt: skip
    text = "".join(choice.delta.content or "" for chunk in chunks for choice in chunk.choices)
    assert text == whole.choices[0].message.content == "no"
    assert chunks[-1].usage is not None and chunks[-1].choices[0].finish_reason == "stop"
    assert "".join(choice.delta.content or "" for chunk in played for choice in chunk.choices) == "no"

    env = {"AUTOML_URL": str(org.base_url), "AUTOML_API_KEY": org.admin_key, "AUTOML_CONFIG": "/nonexistent"}
    name = llm_deployment["name"]
    result = await asyncio.to_thread(
        CliRunner().invoke,
        app,
        ["chat", name, "--temperature", "0", "--max-tokens", "8"],
        input="is it bad\nis it good\n",
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["no", "yes"]


async def test_generation_parameters_through_the_api(org: OrgClient, llm_deployment: dict[str, Any]) -> None:
    path = f"/v1/deployments/{llm_deployment['id']}/chat/completions"
    messages = [{"role": "user", "content": "is it fine"}]

    async def reply(**options: Any) -> dict[str, Any]:
        response = await org.post(path, json={"messages": messages} | options)
        assert response.status_code == 200, response.text
        return dict(response.json()["choices"][0])

    seeds = [1, 1, 2, 3, 4, 5]
    hot = [await reply(temperature=2.0, seed=seed, max_tokens=10) for seed in seeds]
    assert hot[0] == hot[1]  # a seed repeats a sampled reply
    assert len({choice["message"]["content"] for choice in hot}) > 1  # other seeds sample other replies
    long = next(choice for choice in hot if len(choice["message"]["content"].split()) >= 3)
    seed = seeds[hot.index(long)]
    short = await reply(temperature=2.0, seed=seed, max_tokens=1)  # the same start, cut after one token
    assert short["finish_reason"] == "length"
    assert short["message"]["content"] == long["message"]["content"].split()[0]
    second_word = long["message"]["content"].split()[1]
    stopped = await reply(temperature=2.0, seed=seed, max_tokens=10, stop=second_word)
    assert stopped["finish_reason"] == "stop"
    assert second_word not in stopped["message"]["content"].split()
    narrow = await reply(temperature=1.0, top_p=1e-6, seed=3)  # only the likeliest token: the greedy reply
    assert narrow["message"]["content"] == (await reply(temperature=0))["message"]["content"] == "yes"


async def test_shared_base_deployments_serve_their_adapters_from_one_app(
    org: OrgClient,
    inference_platform: Platform,
    llm_model: dict[str, Any],
    reversed_model: dict[str, Any],
) -> None:
    """Two deployments with share_base: one Serve app holds the base once and answers each with its own
    adapter (each passed its parity check through it); deleting one leaves the other answering, and the app
    goes with the last."""
    runtime = inference_platform.apps["inference"].state.manager.runtime
    # Serve apps outlive a platform on the process's one Ray: count this platform's only (its prefix).
    own = f"{inference_platform.apps['inference'].state.settings.serve_app_prefix}-shared-"

    async def shared_apps() -> list[str]:
        return [name for name in await runtime.states() if name.startswith(own)]

    first = await deploy(org, llm_model["id"], share_base=True, min_replicas=1)
    second = await deploy(org, reversed_model["id"], share_base=True, min_replicas=1)
    assert first["share_base"] and second["share_base"]
    assert len(await shared_apps()) == 1
    question = {"messages": [{"role": "user", "content": "is it good"}], "temperature": 0}
    for deployment, expected in ((first, "yes"), (second, "no"), (first, "yes")):
        answer = await org.post(f"/v1/deployments/{deployment['id']}/chat/completions", json=question)
        assert answer.status_code == 200, answer.text
        assert answer.json()["choices"][0]["message"]["content"] == expected
    streamed = await org.post(
        f"/v1/deployments/{second['id']}/completions", json={"prompt": "is it bad", "stream": True, "temperature": 0}
    )
    assert "".join(event["choices"][0]["text"] for event in events_of(streamed.text)[:-1]) == "yes"

    assert (await org.delete(f"/v1/deployments/{first['id']}")).status_code == 202
    deadline = asyncio.get_running_loop().time() + 60
    while (await org.get(f"/v1/deployments/{first['id']}")).status_code != 404:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.2)
    still = await org.post(f"/v1/deployments/{second['id']}/chat/completions", json=question)
    assert still.status_code == 200 and still.json()["choices"][0]["message"]["content"] == "no"
    assert len(await shared_apps()) == 1
    assert (await org.delete(f"/v1/deployments/{second['id']}")).status_code == 202
    while await shared_apps():
        assert asyncio.get_running_loop().time() < deadline + 60
        await asyncio.sleep(0.2)


async def test_an_async_task_generates_its_replies_and_they_are_metered(
    org: OrgClient, llm_deployment: dict[str, Any]
) -> None:
    """The finding: an async task's replies (25 tokens) were not metered at all."""
    before = await tokens_of(org, llm_deployment["id"])
    inputs = [{"prompt": "is it lovely"}, {"messages": [{"role": "user", "content": "is it horrid"}]}]
    created = await org.post(f"/v1/deployments/{llm_deployment['id']}/tasks", json={"inputs": inputs})
    assert created.status_code == 202, created.text
    task = await wait_task(org, created.json()["task_id"], lambda body: body["status"] in ("succeeded", "failed"))
    assert task["status"] == "succeeded", task
    assert [output["text"] for output in task["outputs"]] == ["yes", "no"]
    assert all(output["usage"]["completion_tokens"] == 1 for output in task["outputs"])
    after = await tokens_of(org, llm_deployment["id"])
    assert (after[0] - before[0], after[1] - before[1]) == (
        sum(output["usage"]["prompt_tokens"] for output in task["outputs"]),
        2,
    )


async def test_a_dropped_stream_is_metered_to_its_last_piece(org: OrgClient, llm_deployment: dict[str, Any]) -> None:
    """The finding: tokens generated for a stream that did not reach its end (the caller gone, the time up)
    were never metered: the gateway read them from the stream's last event."""
    deployment_id = llm_deployment["id"]
    body = {"name": "dropper", "scope": "deployment", "deployment_id": deployment_id}
    created = await org.post("/v1/keys", json=body)
    assert created.status_code == 201, created.text
    key = created.json()
    messages = [{"role": "user", "content": "tell me everything"}]
    whole = await org.post(f"/v1/deployments/{deployment_id}/chat/completions", json={"messages": messages})
    prompt_tokens = whole.json()["usage"]["prompt_tokens"]
    request = {"messages": messages, "temperature": 2.0, "seed": 3, "max_tokens": 200, "stream": True}
    async with org.stream(
        "POST",
        f"/v1/deployments/{deployment_id}/chat/completions",
        json=request,
        headers={"Authorization": f"Bearer {key['key']}"},
    ) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                break  # one piece, then the caller goes away
    deadline = asyncio.get_running_loop().time() + 30
    while (metered := await tokens_of(org, deployment_id, key["id"])) == (0, 0):
        assert asyncio.get_running_loop().time() < deadline, "the dropped stream's tokens were never metered"
        await asyncio.sleep(0.2)
    assert metered[0] == prompt_tokens and 1 <= metered[1] <= 200, metered


async def test_tokens_are_metered_per_deployment_and_key(org: OrgClient, llm_deployment: dict[str, Any]) -> None:
    deployment_id = llm_deployment["id"]
    created = await org.post("/v1/keys", json={"name": "bot", "scope": "deployment", "deployment_id": deployment_id})
    assert created.status_code == 201, created.text
    key = created.json()

    def totals(items: list[dict[str, Any]]) -> tuple[int, int]:
        rows = [row for row in items if row["deployment_id"] == deployment_id and row["key_id"] == key["id"]]
        return sum(row["prompt_tokens"] for row in rows), sum(row["completion_tokens"] for row in rows)

    scoped = {"Authorization": f"Bearer {key['key']}"}
    request = {"messages": [{"role": "user", "content": "is it lovely"}], "temperature": 0}
    whole = await org.post(f"/v1/deployments/{deployment_id}/chat/completions", json=request, headers=scoped)
    assert whole.status_code == 200, whole.text
    streamed = await org.post(
        f"/v1/deployments/{deployment_id}/chat/completions", json=request | {"stream": True}, headers=scoped
    )
    assert streamed.status_code == 200, streamed.text
    usage = whole.json()["usage"]
    assert totals((await org.get("/v1/usage")).json()["items"]) == (
        2 * usage["prompt_tokens"],
        2 * usage["completion_tokens"],
    )
    other = await org.get(f"/v1/deployments/{deployment_id}", headers=scoped)
    assert other.status_code == 403  # the scoped key calls its deployment's generations and predict only


async def test_what_a_generation_cannot_be_asked(
    org: OrgClient, llm_deployment: dict[str, Any], trained_model: dict[str, Any]
) -> None:
    base = f"/v1/deployments/{llm_deployment['id']}"
    user = [{"role": "user", "content": "hi"}]
    cases = [
        (f"{base}/chat/completions", {"messages": user, "frequency_penalty": 1}, "frequency_penalty"),
        (f"{base}/chat/completions", {"messages": user, "n": 2}, "n"),
        (f"{base}/chat/completions", {"messages": [*user, {"role": "assistant", "content": "x"}]}, "last message"),
        (f"{base}/chat/completions", {"messages": user, "max_tokens": 5000}, "max_tokens"),
        (f"{base}/chat/completions", {"messages": user, "stop": ["a", "b", "c", "d", "e"]}, "stop"),
        (f"{base}/completions", {"prompt": "x" * 60_000}, "characters of prompt"),
        (f"{base}/predict", {"inputs": ["a plain text"]}, "takes a prompt or messages"),
        (f"{base}/predict", {"inputs": [{"image_url": "http://example.com/a.png"}]}, "takes a prompt or messages"),
    ]
    for path, body, reason in cases:
        response = await org.post(path, json=body)
        assert response.status_code == 422, (body, response.text)
        assert reason in response.json()["detail"], (body, response.text)
    classifier = await deploy(org, trained_model["id"], min_replicas=0)
    refused = await org.post(f"/v1/deployments/{classifier['id']}/chat/completions", json={"messages": user})
    assert refused.status_code == 422 and "does not generate text" in refused.json()["detail"]
    batch = await org.post("/v1/batch-predictions", json={"model_id": llm_deployment["model_id"], "snapshot_id": None})
    assert batch.status_code == 422


async def test_a_deployment_that_does_not_reply_as_trained_fails_with_the_difference(
    org: OrgClient, inference_platform: Platform, llm_model: dict[str, Any]
) -> None:
    """The stored replies of the held-out prompts are altered: the deployment's own replies no longer match."""
    store = await create_store(inference_platform.apps["trainer"].state.settings)
    key = f"orgs/{org.org_id}/models/{llm_model['id']}/artifacts/parity.json"
    original = await store.get_bytes(key)
    parity = json.loads(original)
    parity[0]["output"] = "maybe"
    cache = Path(inference_platform.apps["inference"].state.settings.resolved_replica_cache_dir)
    try:
        await store.put(key, json.dumps(parity).encode())
        for path in (cache / "models" / llm_model["id"]).glob("parity.json"):  # replicas' cached copy too
            path.write_text(json.dumps(parity))
        created = await org.post("/v1/deployments", json={"model_id": llm_model["id"], "name": "tampered"})
        assert created.status_code == 201, created.text
        body = await org.wait_while(f"/v1/deployments/{created.json()['id']}", "deploying", 120)
        assert body["status"] == "failed", body
        assert "parity check failed: 1 of 5 held-out prompts" in body["error"]
        assert "trained 'maybe', served " in body["error"]
    finally:
        await store.put(key, original)
        for path in (cache / "models" / llm_model["id"]).glob("parity.json"):
            path.write_bytes(original)
        await store.close()


async def test_a_prompt_past_the_models_context_is_refused_by_name(
    org: OrgClient, llm_model: dict[str, Any], llm_deployment: dict[str, Any]
) -> None:
    """The finding: a prompt of about 10,000 tokens, past the model's context, was answered after 51 s with the
    replica's memory tripled. Its tokens are counted in the replica, before any forward pass."""
    long = " ".join(["good"] * 300)  # 300 tokens: past the tiny Llama's context of 256
    base = f"/v1/deployments/{llm_deployment['id']}"
    chat = {"messages": [{"role": "user", "content": long}]}
    cases = [
        (f"{base}/completions", {"prompt": long}),
        (f"{base}/completions", {"prompt": long, "stream": True}),
        (f"{base}/chat/completions", chat),
        (f"{base}/predict", {"inputs": [{"prompt": long}]}),
        (f"/v1/models/{llm_model['id']}/playground/chat/completions", chat | {"stream": True}),
        (f"{base}/completions", {"prompt": " ".join(["good"] * 200), "max_tokens": 100}),  # fits, the reply not
    ]
    for path, body in cases:
        response = await org.post(path, json=body)
        assert response.status_code == 422, (path, response.text[:300])
        refused = response.json()
        assert refused["error"] == "PromptTooLong", refused
        assert "context of 256 tokens" in refused["detail"] and "max_tokens" in refused["detail"], refused
    fits = await org.post(f"{base}/completions", json={"prompt": " ".join(["good"] * 100), "max_tokens": 8})
    assert fits.status_code == 200, fits.text
