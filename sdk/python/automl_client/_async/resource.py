"""What every resource of the client holds: the client whose transport it calls."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from automl_client._async.client import AsyncClient


class _Resource:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client
