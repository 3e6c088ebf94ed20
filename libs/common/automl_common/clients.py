"""Typed clients of the services others call: each read escapes its URL, turns the refusals its caller
expects (404, 409) into the caller's own errors in one place, and returns a proto type.

A caller wraps the :class:`InternalClient` it was given (``SnapshotsClient(snapshots)``): the wrapper holds
no state of its own, so building one per call costs nothing."""

from __future__ import annotations

from automl_common.errors import NotFound
from automl_common.http import ErrorFor, InternalClient, url_path
from automl_proto.datasets import Dataset
from automl_proto.snapshots import Compatibility, Snapshot, Split, SplitCreate
from automl_proto.training import ReadySnapshot


class DatasetsClient:
    """dataset-svc, as snapshot-svc and inference-svc read it."""

    def __init__(self, http: InternalClient) -> None:
        self.http = http

    async def dataset(self, org_id: str, dataset_id: str, *, missing: ErrorFor = NotFound) -> Dataset:
        path = url_path("/v1/datasets/{}", dataset_id)
        return await self.http.typed(Dataset, "GET", path, org_id=org_id, errors={404: missing})


class SnapshotsClient:
    """snapshot-svc, as trainer-svc and inference-svc read it."""

    def __init__(self, http: InternalClient) -> None:
        self.http = http

    async def snapshot(self, org_id: str, snapshot_id: str, *, missing: ErrorFor = NotFound) -> Snapshot:
        path = url_path("/v1/snapshots/{}", snapshot_id)
        return await self.http.typed(Snapshot, "GET", path, org_id=org_id, errors={404: missing})

    async def files(
        self,
        org_id: str,
        snapshot_id: str,
        *,
        split_id: str | None = None,
        missing: ErrorFor = NotFound,
        not_ready: ErrorFor | None = None,
    ) -> ReadySnapshot:
        """Where a ready snapshot's rows (and one of its splits) are in the object store."""
        path = url_path("/internal/snapshots/{}/files", snapshot_id)
        params = {"split_id": split_id} if split_id else {}
        errors = {404: missing, 409: not_ready or missing}
        return await self.http.typed(ReadySnapshot, "GET", path, org_id=org_id, params=params, errors=errors)

    async def compatibility(self, org_id: str, train_snapshot_id: str, test_snapshot_id: str) -> Compatibility:
        path = url_path("/v1/snapshots/{}/compatibility", train_snapshot_id)
        params = {"test_snapshot_id": test_snapshot_id}
        return await self.http.typed(Compatibility, "GET", path, org_id=org_id, params=params)

    async def split(self, org_id: str, snapshot_id: str, body: SplitCreate, *, refused: ErrorFor) -> Split:
        """A new random split of a snapshot; ``refused`` is what the caller makes of a split it cannot have."""
        path = url_path("/v1/snapshots/{}/splits", snapshot_id)
        errors = dict.fromkeys((400, 409, 422), refused)
        return await self.http.typed(
            Split, "POST", path, org_id=org_id, json=body.model_dump(mode="json"), errors=errors
        )
