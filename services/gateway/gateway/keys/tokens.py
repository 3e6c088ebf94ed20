"""The key format: ``aml_<lookup>_<secret>``.

``lookup`` (16 hex characters) finds the row; the whole key is stored only as its SHA-256. A key carries
256 random bits, so a fast hash is the right one here (as for GitHub's and Stripe's tokens): a slow
password hash adds nothing against guessing and would cost milliseconds on every request.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

KEY_PREFIX = "aml_"
_KEY_PATTERN = re.compile(r"^aml_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class NewKey:
    key: str
    lookup: str
    key_hash: str

    @property
    def display_prefix(self) -> str:
        return display_prefix(self.lookup)


def display_prefix(lookup: str) -> str:
    return f"{KEY_PREFIX}{lookup}"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def generate_key() -> NewKey:
    lookup = secrets.token_hex(8)
    key = f"{KEY_PREFIX}{lookup}_{secrets.token_urlsafe(32)}"
    return NewKey(key=key, lookup=lookup, key_hash=hash_key(key))


def parse_lookup(key: str) -> str | None:
    """The lookup part of a well-formed key, or None."""
    match = _KEY_PATTERN.match(key)
    return match.group(1) if match else None
