"""What the sync and async clients share and that does no I/O: pages, paths, retry delays, progress, the
states a wait ends in."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from automl_client.errors import retry_after_s

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

ProgressCallback = Callable[[int, int | None], None]  # (bytes sent so far, total bytes or None)

RETRIED_STATUSES = (429, 503)
# Statuses a resource leaves on its own (then a wait goes on) and the ones that are a failure.
PENDING: dict[str, tuple[str, ...]] = {
    "dataset": ("processing",),
    "snapshot": ("creating",),
    "model": ("queued", "running"),
    "deployment": ("deploying", "deleting"),
    "task": ("queued", "running"),
    "batch_prediction": ("queued", "running"),
    "base_model": ("importing",),
}
FAILED = ("failed", "cancelled")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next: str | None = None


def url_path(template: str, *ids: str | int) -> str:
    """``template`` with each ``{}`` replaced by one escaped segment: an id never adds a segment or a query.

    The same rule as the services' ``automl_common.http.url_path``; the SDK keeps its own line because it is
    installed alone, without the platform's libraries."""
    return template.format(*(quote(str(value), safe="") for value in ids))


def retry_delay(attempt: int, response: httpx.Response | None) -> float:
    """Retry-After when the answer has one, else exponential backoff (0.5 s, 1 s, 2 s... up to 30 s)."""
    if response is not None:
        after = retry_after_s(response.headers)
        if after is not None:
            return after
    return min(30.0, 0.5 * 2.0**attempt)


def parse(model: type[M], response: httpx.Response) -> M:
    return model.model_validate_json(response.content)


class ProgressReader:
    """A binary file that reports how much of it has been read (sent), for streamed uploads."""

    def __init__(self, file: IO[bytes], on_progress: ProgressCallback | None) -> None:
        self._file = file
        self._on_progress = on_progress
        self._start = file.tell()
        self.total: int | None
        try:
            self.total = os.fstat(file.fileno()).st_size - self._start
        except (OSError, AttributeError, ValueError):
            self.total = None
        self.sent = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._file.read(size)
        self.sent += len(chunk)
        if self._on_progress is not None and (chunk or self.sent == 0):
            self._on_progress(self.sent, self.total)
        return chunk

    def rewind(self) -> None:
        self._file.seek(self._start)
        self.sent = 0

    # httpx learns the length from these, so the upload has a Content-Length and is not chunked.
    def fileno(self) -> int:
        return self._file.fileno()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()


@dataclass(frozen=True)
class Download:
    """Where a download went and how many bytes it had."""

    path: str
    size: int


def model_of(model: type[M], request: M | None, fields: dict[str, Any]) -> M:
    """A request body: the proto object given, or one built (and validated here) from keyword fields."""
    if request is not None:
        if fields:
            raise TypeError("give a request object or keyword fields, not both")
        return request
    return model.model_validate(fields)
