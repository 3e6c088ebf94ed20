"""The services inference-svc calls."""

from __future__ import annotations

from dataclasses import dataclass

from automl_common.http import InternalClient


@dataclass(frozen=True)
class Upstreams:
    trainer: InternalClient
    snapshots: InternalClient
    datasets: InternalClient

    async def aclose(self) -> None:
        for client in (self.trainer, self.snapshots, self.datasets):
            await client.aclose()
