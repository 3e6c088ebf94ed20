"""Time-ordered identifiers (ULID layout, Crockford base32) with a type prefix: ``key_01J...``.

Time order lets every list page by id alone, which keeps a deep cursor as fast as the first page.
"""

from __future__ import annotations

import os
import time
from typing import Annotated

from fastapi import Path, Query

from automl_proto.ids import BASE_MODEL_ID_PATTERN, ID_MAX_LENGTH, ID_PATTERN

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_ulid() -> str:
    millis = time.time_ns() // 1_000_000
    randomness = int.from_bytes(os.urandom(10), "big")
    return _encode(millis, 10) + _encode(randomness, 16)


def new_id(prefix: str) -> str:
    return f"{prefix}_{new_ulid()}"


# Path parameters: a malformed id is a 422 naming the parameter, before any handler code runs.
IdPath = Annotated[str, Path(pattern=ID_PATTERN, max_length=ID_MAX_LENGTH, description="a resource id")]
RowIdPath = Annotated[int, Path(description="a row's id in its dataset (a row's `id`, not its index)")]
BaseModelIdPath = Annotated[str, Path(pattern=BASE_MODEL_ID_PATTERN, max_length=40, description="a base model id")]
IdQuery = Annotated[str | None, Query(pattern=ID_PATTERN, max_length=ID_MAX_LENGTH, description="a resource id")]
