"""Receive a multipart upload as a stream: the file part goes straight to the object store while it
arrives; the small text fields are kept. Nothing holds the whole file."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Callable

from python_multipart.exceptions import ParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from automl_common.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

HEAD_BYTES = 64 * 1024
MAX_FIELD_BYTES = 4096
# A form has a file and a name: a few parts, a few short headers each. Without bounds, 16,000 tiny fields
# grew this process by 61 MiB, and one endless header line without limit.
MAX_PARTS = 16
MAX_HEADERS_PER_PART = 16
MAX_HEADER_BYTES = 8 * 1024


class MultipartUpload:
    def __init__(self, request: Request, *, max_file_bytes: int) -> None:
        content_type, options = parse_options_header(request.headers.get("content-type", ""))
        if content_type != b"multipart/form-data":
            raise UnsupportedMediaType("upload the file as multipart/form-data with a 'file' part")
        boundary = options.get(b"boundary")
        if not boundary:
            raise BadRequest("multipart/form-data needs a boundary")
        self.request = request
        self.max_file_bytes = max_file_bytes
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.file_bytes = 0
        self.head = bytearray()
        self._chunks: deque[bytes] = deque()
        self._part_headers: dict[bytes, bytes] = {}
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._part_name: str | None = None
        self._in_file = False
        self._field_value = bytearray()
        self._files_seen = 0
        self._parts = 0
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._on_part_begin,
                "on_header_field": lambda data, start, end: self._grow(self._header_field, data[start:end]),
                "on_header_value": lambda data, start, end: self._grow(self._header_value, data[start:end]),
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
            },
        )

    @staticmethod
    def _grow(buffer: bytearray, piece: bytes) -> None:
        buffer.extend(piece)
        if len(buffer) > MAX_HEADER_BYTES:
            raise BadRequest(f"a multipart header is longer than {MAX_HEADER_BYTES} bytes")

    def _on_part_begin(self) -> None:
        self._parts += 1
        if self._parts > MAX_PARTS:
            raise BadRequest(f"the form has more than {MAX_PARTS} parts; send the 'file' and an optional 'name'")
        self._part_headers = {}
        self._part_name = None
        self._in_file = False
        self._field_value = bytearray()

    def _on_header_end(self) -> None:
        if len(self._part_headers) >= MAX_HEADERS_PER_PART:
            raise BadRequest(f"a multipart part has more than {MAX_HEADERS_PER_PART} headers")
        self._part_headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def _on_headers_finished(self) -> None:
        _, options = parse_options_header(self._part_headers.get(b"content-disposition", b""))
        self._part_name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        if filename is not None and self._part_name == "file":
            self._files_seen += 1
            if self._files_seen > 1:
                raise BadRequest("upload one file per request (one 'file' part)")
            self._in_file = True
            self.filename = filename.decode("utf-8", "replace").replace("\\", "/").rsplit("/", 1)[-1][:255]

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        piece = data[start:end]
        if self._in_file:
            self.file_bytes += len(piece)
            if self.file_bytes > self.max_file_bytes:
                raise PayloadTooLarge(f"the file is larger than the limit of {self.max_file_bytes} bytes")
            if len(self.head) < HEAD_BYTES:
                self.head.extend(piece[: HEAD_BYTES - len(self.head)])
            self._chunks.append(bytes(piece))
        else:
            self._field_value.extend(piece)
            if len(self._field_value) > MAX_FIELD_BYTES:
                raise BadRequest(f"form field {self._part_name!r} is longer than {MAX_FIELD_BYTES} bytes")

    def _on_part_end(self) -> None:
        if not self._in_file and self._part_name:
            self.fields[self._part_name] = self._field_value.decode("utf-8", "replace")
        self._in_file = False

    async def file_chunks(self) -> AsyncIterator[bytes]:
        """The file part's bytes as they arrive (the whole request is consumed, fields included)."""
        async for chunk in self.request.stream():
            self._feed(self._parser.write, chunk)
            while self._chunks:
                yield self._chunks.popleft()
        self._feed(lambda _: self._parser.finalize(), b"")
        while self._chunks:
            yield self._chunks.popleft()

    @staticmethod
    def _feed(step: Callable[[bytes], object], chunk: bytes) -> None:
        try:
            step(chunk)
        except ParseError as error:  # a malformed body is the caller's mistake, not ours
            raise BadRequest(f"the multipart/form-data body is malformed: {error}"[:300]) from error

    @property
    def has_file(self) -> bool:
        return self._files_seen == 1
