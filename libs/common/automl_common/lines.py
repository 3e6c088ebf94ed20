"""Splitting a byte stream (an HTTP body read in chunks) into complete lines."""

from __future__ import annotations


class LineSplitter:
    """Bytes in, complete non-empty lines out; the unfinished tail waits for the next chunk (feed ``b"\\n"``
    last to flush it)."""

    def __init__(self) -> None:
        self.rest = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        data = self.rest + chunk
        lines = data.split(b"\n")
        self.rest = lines.pop()
        return [line for line in lines if line]
