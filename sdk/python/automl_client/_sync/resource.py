# Generated from automl_client/_async by `python -m automl_client._generate`: do not edit.
"""What every resource of the client holds: the client whose transport it calls."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from automl_client._sync.client import Client


class _Resource:
    def __init__(self, client: Client) -> None:
        self._client = client
