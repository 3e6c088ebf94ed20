"""Events from the worker to trainer-svc over HTTP, authenticated with the job's own token. trainer-svc's
answer says whether the job has been cancelled, so a worker stops even where no signal reaches it."""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx

from automl_proto.models import TrainingOptions
from automl_proto.training import EventKind, JobEvent, JobEventAnswer

logger = logging.getLogger("automl.worker")


class EventReporter:
    def __init__(self, url: str, token: str, attempts: int = 5, transport: httpx.BaseTransport | None = None) -> None:
        self.url = url
        self.attempts = attempts
        self.cancelled = False
        self.client = httpx.Client(
            headers={"Authorization": f"Bearer {token}"}, timeout=httpx.Timeout(10.0), transport=transport
        )

    def send(self, kind: EventKind, message: str = "", *, options: TrainingOptions | None = None, **data: Any) -> None:
        event = JobEvent(kind=kind, message=message[:20_000], data=data, options=options)
        body = event.model_dump(mode="json", by_alias=True)
        for attempt in range(1, self.attempts + 1):
            try:
                response = self.client.post(self.url, json=body)
            except httpx.TransportError as error:
                logger.warning("event %s not delivered (attempt %d): %s", kind, attempt, error)
                time.sleep(min(2.0**attempt * 0.1, 5.0))
                continue
            if response.status_code < 300:
                self.cancelled = self.cancelled or JobEventAnswer.model_validate_json(response.content).cancel
                return
            if response.status_code in (401, 404, 409):  # the job is over (cancelled, deleted): stop working
                self.cancelled = True
                return
            logger.warning("event %s refused (%d): %s", kind, response.status_code, response.text[:500])
            time.sleep(min(2.0**attempt * 0.1, 5.0))
        logger.error("event %s dropped after %d attempts", kind, self.attempts)

    def close(self) -> None:
        self.client.close()
