"""Time-ordered identifiers (ULID layout, Crockford base32) with a type prefix: ``key_01J...``.

Time order lets every list page by id alone, which keeps a deep cursor as fast as the first page.
"""

from __future__ import annotations

import os
import time

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
