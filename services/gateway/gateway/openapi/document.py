"""The merged document, built from the services' own documents (read with the internal token) and kept for
``ttl_s``: a service deployed with a new route shows it within that time. A service that cannot be read
makes the document unavailable (503) rather than silently shorter, and nothing partial is kept."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter

from automl_common.errors import BadGateway
from automl_common.http import InternalClient
from gateway.openapi.merge import ServiceDocument, merge

# A service's OpenAPI document is read as what it is, one JSON object; ``merge`` walks its parts.
OPENAPI_DOCUMENT = TypeAdapter(dict[str, Any])


@dataclass(frozen=True)
class Source:
    client: InternalClient
    prefixes: tuple[str, ...]


class PublicDocument:
    def __init__(
        self,
        own: Callable[[], dict[str, Any]],
        sources: Sequence[Source],
        answered_locally: Sequence[tuple[str, re.Pattern[str]]],
        ttl_s: float,
    ) -> None:
        self._own = own
        self._sources = sources
        self._answered_locally = answered_locally
        self._ttl_s = ttl_s
        self._document: dict[str, Any] | None = None
        self._built_at = 0.0
        self._lock = asyncio.Lock()

    async def get(self) -> dict[str, Any]:
        async with self._lock:
            if self._document is None or time.monotonic() - self._built_at > self._ttl_s:
                documents = await asyncio.gather(*(self._read(source) for source in self._sources))
                self._document = merge(self._own(), documents, self._answered_locally)
                self._built_at = time.monotonic()
            return self._document

    async def _read(self, source: Source) -> ServiceDocument:
        answer = await source.client.request("GET", "/openapi.json")
        if answer.status_code != 200:
            raise BadGateway(f"{source.client.service} answered {answer.status_code} for its API document")
        try:
            document = OPENAPI_DOCUMENT.validate_json(answer.content)
        except ValueError as e:  # pydantic's ValidationError is one
            raise BadGateway(f"{source.client.service}'s API document is not a JSON object") from e
        return ServiceDocument(source.client.service, source.prefixes, document)

    async def aclose(self) -> None:
        for source in self._sources:
            await source.client.aclose()
