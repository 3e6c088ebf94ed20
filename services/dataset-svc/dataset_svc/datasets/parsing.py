"""Streaming parsers for uploads: CSV/TSV (delimiter sniffed) and JSONL, as records with line numbers.

Nothing here holds the file: bytes come in as an iterator of chunks and records go out one by one. A
problem with the file as a whole (not text, no header, an empty or repeated column name) raises
``UploadFormatError``; a problem with one record makes that record invalid, with its line and reason.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from automl_common import jsonlimits
from automl_common.errors import InvalidRequest

SNIFF_BYTES = 64 * 1024
# Longest physical line: without a bound, a file with no newline would grow one string as large as the file.
MAX_LINE_CHARS = 4 * 1024 * 1024
_DELIMITERS = ",\t;|"


class UploadFormatError(InvalidRequest):
    pass


@dataclass(frozen=True)
class Record:
    line: int  # 1-based line where the record starts
    values: dict[str, Any]
    error: str | None = None


def detect_format(filename: str, head: bytes) -> str:
    lowered = filename.lower()
    if head.startswith(b"PK\x03\x04") or lowered.endswith(".zip"):
        return "zip"
    if lowered.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if lowered.endswith(".tsv"):
        return "tsv"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if lowered.endswith(".json") or text.startswith(b"{"):
        return "jsonl"
    return "csv"


def decode_lines(chunks: Iterator[bytes], max_line_chars: int = MAX_LINE_CHARS) -> Iterator[str]:
    """Decode UTF-8 (BOM or not) or BOM-marked UTF-16, yielding lines with their endings.

    Any other encoding is refused, naming the first line that is not valid text; so is a line longer than
    ``max_line_chars`` (as soon as it is, not once it is whole)."""
    iterator = iter(chunks)
    first = b""
    for chunk in iterator:
        first += chunk
        if len(first) >= 4:
            break
    if first.startswith(codecs.BOM_UTF16_LE) or first.startswith(codecs.BOM_UTF16_BE):
        encoding, skip = "utf-16", 0
    elif first.startswith(codecs.BOM_UTF8):
        encoding, skip = "utf-8", 3
    else:
        encoding, skip = "utf-8", 0
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    lines_done = 0
    pending = ""

    def all_chunks() -> Iterator[bytes]:
        yield first[skip:]
        yield from iterator

    for chunk in all_chunks():
        try:
            text = decoder.decode(chunk)
        except UnicodeDecodeError as error:
            bad_line = lines_done + pending.count("\n") + chunk[: error.start].count(b"\n") + 1
            raise UploadFormatError(
                f"line {bad_line}: the file is not {encoding.upper()} text (byte 0x{chunk[error.start]:02x}); "
                "save it as UTF-8 and upload it again"
            ) from error
        if not text:
            continue
        pending += text
        # Split on '\n' only: other line breaks (U+2028, a lone '\r') may sit inside a quoted CSV field.
        pieces = pending.split("\n")
        pending = pieces.pop()
        for piece in pieces:
            lines_done += 1
            if len(piece) > max_line_chars:
                raise _line_too_long(lines_done, max_line_chars)
            yield piece + "\n"
        if len(pending) > max_line_chars:
            raise _line_too_long(lines_done + 1, max_line_chars)
    try:
        pending += decoder.decode(b"", final=True)
    except UnicodeDecodeError as error:
        raise UploadFormatError(f"line {lines_done + 1}: the file ends in the middle of a character") from error
    if "\x00" in pending:
        raise UploadFormatError(f"line {lines_done + 1}: the file holds NUL bytes; it is not a text file")
    if pending:
        yield pending


def _line_too_long(line: int, limit: int) -> UploadFormatError:
    return UploadFormatError(f"line {line}: the line is longer than {limit} characters")


def sniff_delimiter(sample: str) -> str:
    try:
        return csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        return ","


def check_header(names: list[str], max_columns: int) -> list[str]:
    cleaned = [name.strip() for name in names]
    if not cleaned or cleaned == [""]:
        raise UploadFormatError("line 1: a header row naming the columns is required")
    if len(cleaned) > max_columns:
        raise UploadFormatError(f"line 1: {len(cleaned)} columns is more than the limit of {max_columns}")
    seen: dict[str, int] = {}
    for position, name in enumerate(cleaned, start=1):
        if not name:
            raise UploadFormatError(f"line 1: column {position} has an empty name; every column needs a header")
        if len(name) > 200:
            raise UploadFormatError(f"line 1: column {position}'s name is longer than 200 characters")
        if name in seen:
            raise UploadFormatError(f"line 1: column name {name!r} appears twice (columns {seen[name]} and {position})")
        seen[name] = position
    return cleaned


class CsvParser:
    """Parses delimited text. ``columns`` is known once the header has been read."""

    def __init__(self, lines: Iterator[str], *, delimiter: str | None, max_columns: int, max_field_chars: int) -> None:
        self._lines = _Peekable(lines)
        # Only the first SNIFF_BYTES are sniffed, however long the first lines are.
        self.delimiter = delimiter or sniff_delimiter(self._lines.peek_text(SNIFF_BYTES)[:SNIFF_BYTES])
        self.max_columns = max_columns
        self.max_field_chars = max_field_chars
        # The csv module's own limit is only a backstop; the per-value limit below gives the clear reason.
        csv.field_size_limit(max(max_field_chars * 4, 131072))
        self._reader = csv.reader(self._lines, delimiter=self.delimiter, strict=False)
        try:
            header = next(self._reader)
        except StopIteration:
            raise UploadFormatError("the file is empty; a header row is required") from None
        except csv.Error as error:
            raise UploadFormatError(f"line 1: the header cannot be read: {error}") from error
        self.columns = check_header(header, max_columns)

    def records(self) -> Iterator[Record]:
        width = len(self.columns)
        while True:
            start = self._reader.line_num + 1
            try:
                fields = next(self._reader)
            except StopIteration:
                return
            except csv.Error as error:
                yield Record(start, {}, f"line {start}: unreadable row: {error}")
                continue
            if not fields or (len(fields) == 1 and not fields[0].strip() and width > 1):
                continue  # blank line
            if len(fields) != width:
                yield Record(start, {}, f"line {start}: expected {width} fields, found {len(fields)}")
                continue
            too_long = next(
                (name for name, value in zip(self.columns, fields, strict=True) if len(value) > self.max_field_chars),
                None,
            )
            if too_long is not None:
                yield Record(
                    start,
                    {},
                    f"line {start}: the value of column {too_long!r} is longer than {self.max_field_chars} characters",
                )
                continue
            yield Record(start, dict(zip(self.columns, fields, strict=True)))


class JsonlParser:
    """Parses one JSON object per line. Columns are the keys, in order of first appearance."""

    def __init__(self, lines: Iterator[str], *, max_columns: int, max_field_chars: int) -> None:
        self._lines = lines
        self.max_columns = max_columns
        self.max_field_chars = max_field_chars
        self.columns: list[str] = []
        self._known: set[str] = set()

    def records(self) -> Iterator[Record]:
        for line_number, line in enumerate(self._lines, start=1):
            if not line.strip():
                continue
            if len(line) > self.max_field_chars * 4:
                yield Record(
                    line_number,
                    {},
                    f"line {line_number}: the line is longer than {self.max_field_chars * 4} characters",
                )
                continue
            try:
                value = jsonlimits.loads(line)
            except json.JSONDecodeError as error:
                yield Record(line_number, {}, f"line {line_number}: invalid JSON: {error.msg} at column {error.colno}")
                continue
            except jsonlimits.JsonTooDeep as error:
                yield Record(line_number, {}, f"line {line_number}: invalid JSON: {error}")
                continue
            if not isinstance(value, dict):
                yield Record(
                    line_number, {}, f"line {line_number}: expected a JSON object, found {type(value).__name__}"
                )
                continue
            for key in value:
                if key not in self._known:
                    if not key.strip():
                        raise UploadFormatError(f"line {line_number}: an empty key cannot name a column")
                    if len(self._known) >= self.max_columns:
                        raise UploadFormatError(f"line {line_number}: more than {self.max_columns} distinct keys")
                    self._known.add(key)
                    self.columns.append(key)
            too_long = next((k for k, v in value.items() if isinstance(v, str) and len(v) > self.max_field_chars), None)
            if too_long is not None:
                yield Record(
                    line_number,
                    {},
                    f"line {line_number}: the value of {too_long!r} is longer than {self.max_field_chars} characters",
                )
                continue
            yield Record(line_number, value)


class _Peekable:
    """A line iterator that can show its first lines (for sniffing) without losing them."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self._buffer: list[str] = []

    def peek_text(self, size: int) -> str:
        total = sum(len(line) for line in self._buffer)
        for line in self._lines:
            self._buffer.append(line)
            total += len(line)
            if total >= size:
                break
        return "".join(self._buffer)

    def __iter__(self) -> _Peekable:
        return self

    def __next__(self) -> str:
        if self._buffer:
            return self._buffer.pop(0)
        return next(self._lines)
