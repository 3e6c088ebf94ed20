"""The one shape of a resource id, checked wherever an id enters (a path, a body, a query) and before any use.

Ids are ``<prefix>_<26 Crockford base32 characters>`` (a ULID with a type prefix: ``model_01J...``). Nothing
else is ever an id, so a value with ``?``, ``#``, ``/``, ``%``, ``..``, spaces or control characters is refused
where it enters instead of reaching a query, a quota row or an internal URL."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

ID_PATTERN = r"^[a-z]{1,12}_[0-9A-HJKMNP-TV-Z]{26}$"
ID_MAX_LENGTH = 39
# Base models are also named by the platform's built-in ids (``minilm-l6``).
BASE_MODEL_ID_PATTERN = r"^(?:[a-z0-9][a-z0-9-]{0,39}|bm_[0-9A-HJKMNP-TV-Z]{26})$"

ResourceId = Annotated[str, StringConstraints(pattern=ID_PATTERN, max_length=ID_MAX_LENGTH)]
BaseModelId = Annotated[str, StringConstraints(pattern=BASE_MODEL_ID_PATTERN, max_length=40)]
