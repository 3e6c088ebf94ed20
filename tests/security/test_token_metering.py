"""What a playground query and its tokens cost, whatever becomes of the answer. The findings: a playground
chat the gateway gave up on (504, on its own 30 s timeout, while the shared replica generated on) was given
back and cost nothing; an async task's tokens (25, 0 metered), a stream past the predict timeout (0 of 512)
and a non-streamed 503/504 were not metered, because the gateway read tokens from the answers that reached
it. Now inference-svc counts tokens where they are generated, and ``/v1/usage`` reads them from it; here
inference-svc is a stand-in, so that the gateway's side is seen alone (the whole path, with a real model, is
in tests/services/inference_svc/test_llm_serving.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.support.api import bearer, create_org
from tests.support.servers import running_server

SLOW = "model_" + "0" * 25 + "1"  # answers after the gateway has given up
BUSY = "model_" + "0" * 25 + "2"  # inference-svc could not start it (503)
REFUSED = "model_" + "0" * 25 + "3"  # the input is refused (422)
PROMPT_TOKENS, COMPLETION_TOKENS = 11, 40


def inference_stand_in() -> FastAPI:
    """inference-svc's playground and token counts: the slow model's generation is counted (under the key the
    gateway forwarded) even though its answer comes too late."""
    app = FastAPI()
    counted: list[dict[str, Any]] = []

    @app.post("/internal/playground/{model_id}")
    async def playground(model_id: str, request: Request) -> JSONResponse:
        if model_id == BUSY:
            return JSONResponse({"error": "PlaygroundBusy", "detail": "busy"}, status_code=503)
        if model_id == REFUSED:
            return JSONResponse({"error": "InvalidRequest", "detail": "no"}, status_code=422)
        counted.append(
            {
                "day": datetime.now(UTC).date().isoformat(),
                "deployment_id": model_id,
                "key_id": request.headers["x-key-id"],
                "prompt_tokens": PROMPT_TOKENS,
                "completion_tokens": COMPLETION_TOKENS,
            }
        )
        await asyncio.sleep(3)
        return JSONResponse({"text": "late", "finish_reason": "length"})

    @app.get("/internal/usage/tokens")
    async def tokens() -> JSONResponse:
        return JSONResponse({"items": counted})

    return app


async def test_a_playground_query_the_gateway_gave_up_on_is_spent_and_its_tokens_metered(
    gateway_factory: Any, database_url: str
) -> None:
    with running_server(inference_stand_in()) as inference_url:
        gateway = await gateway_factory(database_url, inference_url=inference_url, upstream_timeout_s=0.5)
        org = await create_org(gateway)
        admin = bearer(org["admin_key"])
        query = {"input": {"prompt": "a long story"}}

        timed_out = await gateway.post(f"/v1/models/{SLOW}/playground", json=query, headers=admin)
        assert timed_out.status_code == 504, timed_out.text
        first_left = int(timed_out.headers["x-playground-remaining"])
        again = await gateway.post(f"/v1/models/{SLOW}/playground", json=query, headers=admin)
        assert again.status_code == 504
        assert int(again.headers["x-playground-remaining"]) == first_left - 1  # spent: its generation ran

        for model_id, status in ((BUSY, 503), (REFUSED, 422)):  # never started: the query is given back
            answers = [await gateway.post(f"/v1/models/{model_id}/playground", json=query, headers=admin)]
            answers.append(await gateway.post(f"/v1/models/{model_id}/playground", json=query, headers=admin))
            assert [answer.status_code for answer in answers] == [status, status]
            assert answers[0].headers["x-playground-remaining"] == answers[1].headers["x-playground-remaining"]

        usage = (await gateway.get("/v1/usage", headers=admin)).json()["items"]
        [slow] = [row for row in usage if row["deployment_id"] == SLOW]
        [admin_key] = (await gateway.get("/v1/keys", headers=admin)).json()["items"]
        assert slow["key_id"] == admin_key["id"]  # billed to the key that asked, as inference-svc counted it
        assert (slow["requests"], slow["errors"]) == (2, 2)
        assert (slow["prompt_tokens"], slow["completion_tokens"]) == (2 * PROMPT_TOKENS, 2 * COMPLETION_TOKENS)
