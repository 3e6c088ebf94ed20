"""Per-request context carried across logs and internal calls."""

from __future__ import annotations

from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
org_id_var: ContextVar[str | None] = ContextVar("org_id", default=None)

REQUEST_ID_HEADER = "X-Request-ID"
ORG_ID_HEADER = "X-Org-Id"
INTERNAL_TOKEN_HEADER = "X-Internal-Token"
KEY_ID_HEADER = "X-Key-Id"
KEY_SCOPE_HEADER = "X-Key-Scope"
# Set by the gateway only: how many rows a batch prediction straight from a model may read (its free quota).
PLAYGROUND_ROWS_HEADER = "X-Playground-Rows-Allowed"
