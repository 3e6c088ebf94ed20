"""JSON from tenants, parsed with a bound on nesting: Python's parser recurses once per level, so a cell of
100,000 ``[`` raises ``RecursionError`` (not ``ValueError``) and takes down whatever parsed it. The depth is
counted first, in one pass that skips strings, and a deeper document is refused as invalid JSON."""

from __future__ import annotations

import json
from typing import Any

MAX_JSON_DEPTH = 64


class JsonTooDeep(ValueError):
    def __init__(self, max_depth: int) -> None:
        super().__init__(f"JSON nested deeper than {max_depth} levels")
        self.max_depth = max_depth


def json_depth(text: str | bytes, stop_after: int | None = None) -> int:
    """The deepest nesting of arrays and objects in ``text`` (well formed or not), counting stops once
    ``stop_after`` is passed."""
    data = text.encode() if isinstance(text, str) else text
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_after is not None and deepest > stop_after:
                    return deepest
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


def loads(text: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` that raises ``JsonTooDeep`` (a ``ValueError``) instead of recursing without bound."""
    if json_depth(text, stop_after=max_depth) > max_depth:
        raise JsonTooDeep(max_depth)
    return json.loads(text)
