"""Orgs, keys, datasets and snapshots (async; ``_sync`` is generated from here)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from automl_client._async.resource import _Resource
from automl_client._base import (
    Download,
    Page,
    ProgressCallback,
    ProgressReader,
    model_of,
    parse,
    url_path,
)
from automl_proto import datasets, orgs, snapshots


class AsyncOrgs(_Resource):
    async def create(self, name: str) -> orgs.OrgCreated:
        """The operator key only: a new org and its admin key (shown once)."""
        body = orgs.OrgCreate(name=name)
        return parse(orgs.OrgCreated, await self._client.request("POST", "/v1/orgs", json=body))

    def list(self, *, limit: int = 100) -> AsyncIterator[orgs.Org]:
        return self._client.pages(orgs.Org, "/v1/orgs", {"limit": limit})

    async def me(self) -> orgs.Org:
        return await self._client.get(orgs.Org, "/v1/orgs/me")


class AsyncKeys(_Resource):
    async def create(
        self, name: str, *, scope: str = "admin", deployment_id: str | None = None, expires_in_s: int | None = None
    ) -> orgs.KeyCreated:
        body = orgs.KeyCreate.model_validate(
            {"name": name, "scope": scope, "deployment_id": deployment_id, "expires_in_s": expires_in_s}
        )
        return parse(orgs.KeyCreated, await self._client.request("POST", "/v1/keys", json=body))

    def list(self, *, limit: int = 100) -> AsyncIterator[orgs.Key]:
        return self._client.pages(orgs.Key, "/v1/keys", {"limit": limit})

    async def get(self, key_id: str) -> orgs.Key:
        return await self._client.get(orgs.Key, url_path("/v1/keys/{}", key_id))

    async def revoke(self, key_id: str) -> orgs.Key:
        return parse(orgs.Key, await self._client.request("DELETE", url_path("/v1/keys/{}", key_id)))


class AsyncDatasets(_Resource):
    async def upload(
        self,
        file: str | Path | IO[bytes],
        *,
        name: str | None = None,
        filename: str | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> datasets.Dataset:
        """Streams the file (never read whole into memory); ``on_progress(sent, total)`` as it goes."""
        opened = open(file, "rb") if isinstance(file, (str, Path)) else None  # noqa: SIM115  (closed below)
        source = opened or file
        assert not isinstance(source, (str, Path))
        reader = ProgressReader(source, on_progress)
        upload_name = filename or Path(str(getattr(source, "name", "upload.csv"))).name

        def build() -> dict[str, Any]:
            reader.rewind()
            return {"files": {"file": (upload_name, reader)}, "data": {"name": name} if name else {}}

        try:
            answer = await self._client.request("POST", "/v1/datasets", build=build)
        finally:
            if opened is not None:
                opened.close()
        return parse(datasets.Dataset, answer)

    def list(self, *, limit: int = 100) -> AsyncIterator[datasets.Dataset]:
        return self._client.pages(datasets.Dataset, "/v1/datasets", {"limit": limit})

    async def page(self, *, limit: int = 25, after: str | None = None) -> Page[datasets.Dataset]:
        """One page: ``.items`` and ``.next``, the cursor to pass as ``after`` for the next page."""
        return await self._client.page(datasets.Dataset, "/v1/datasets", limit, after)

    async def get(self, dataset_id: str) -> datasets.Dataset:
        return await self._client.get(datasets.Dataset, url_path("/v1/datasets/{}", dataset_id))

    async def delete(self, dataset_id: str) -> None:
        await self._client.request("DELETE", url_path("/v1/datasets/{}", dataset_id))

    async def set_columns(self, dataset_id: str, columns: Mapping[str, str]) -> datasets.Dataset:
        """Confirm or correct the inferred mapping: column name -> text, image, json, label, number, ignore."""
        body = datasets.ColumnMapping.model_validate({"columns": dict(columns)})
        url = url_path("/v1/datasets/{}/columns", dataset_id)
        return parse(datasets.Dataset, await self._client.request("PUT", url, json=body))

    async def retry_images(self, dataset_id: str) -> datasets.Dataset:
        url = url_path("/v1/datasets/{}/images/retry", dataset_id)
        return parse(datasets.Dataset, await self._client.request("POST", url))

    async def rows_page(
        self,
        dataset_id: str,
        *,
        limit: int = 50,
        after: str | None = None,
        start: int | None = None,
        status: str | None = None,
    ) -> datasets.RowsPage:
        params = {"limit": limit, "after": after, "start": start, "status": status}
        return await self._client.get(datasets.RowsPage, url_path("/v1/datasets/{}/rows", dataset_id), params)

    async def rows(
        self, dataset_id: str, *, status: str | None = None, start: int | None = None, limit: int = 500
    ) -> AsyncIterator[datasets.Row]:
        """Every row (of a status), from row index ``start``."""
        after: str | None = None
        while True:
            page = await self.rows_page(
                dataset_id, limit=limit, after=after, start=start if after is None else None, status=status
            )
            for row in page.items:
                yield row
            if page.next is None:
                return
            after = page.next

    async def add_rows(self, dataset_id: str, rows: Sequence[dict[str, Any]]) -> datasets.RowsPage:
        """Rows as column -> value; the answer holds the rows made."""
        body = datasets.RowsCreate.model_validate({"rows": [{"values": values} for values in rows]})
        answer = await self._client.request("POST", url_path("/v1/datasets/{}/rows", dataset_id), json=body)
        return parse(datasets.RowsPage, answer)

    async def get_row(self, dataset_id: str, row_id: int) -> datasets.Row:
        return await self._client.get(datasets.Row, url_path("/v1/datasets/{}/rows/{}", dataset_id, row_id))

    async def update_row(self, dataset_id: str, row_id: int, values: dict[str, Any]) -> datasets.Row:
        body = datasets.RowValues.model_validate({"values": values})
        url = url_path("/v1/datasets/{}/rows/{}", dataset_id, row_id)
        return parse(datasets.Row, await self._client.request("PATCH", url, json=body))

    async def delete_row(self, dataset_id: str, row_id: int) -> None:
        await self._client.request("DELETE", url_path("/v1/datasets/{}/rows/{}", dataset_id, row_id))

    async def thumbnail(self, dataset_id: str, row_id: int, target: str | Path | IO[bytes]) -> Download:
        return await self._client.download(url_path("/v1/datasets/{}/rows/{}/thumbnail", dataset_id, row_id), target)

    def watch(
        self, dataset_id: str, *, interval_s: float = 0.5, timeout_s: float | None = None
    ) -> AsyncIterator[datasets.Dataset]:
        return self._client.watch("dataset", lambda: self.get(dataset_id), interval_s=interval_s, timeout_s=timeout_s)

    async def wait(
        self,
        dataset_id: str,
        *,
        interval_s: float = 0.5,
        timeout_s: float | None = 600,
        on_progress: Callable[[datasets.Dataset], None] | None = None,
    ) -> datasets.Dataset:
        """Until ingestion ends; ``ResourceFailed`` if it failed."""
        result: datasets.Dataset = await self._client.wait(
            "dataset", lambda: self.get(dataset_id), interval_s=interval_s, timeout_s=timeout_s, on_progress=on_progress
        )
        return result


class AsyncSnapshots(_Resource):
    async def create(self, request: snapshots.SnapshotCreate | None = None, /, **fields: Any) -> snapshots.Snapshot:
        body = model_of(snapshots.SnapshotCreate, request, fields)
        return parse(snapshots.Snapshot, await self._client.request("POST", "/v1/snapshots", json=body))

    def list(self, *, limit: int = 100) -> AsyncIterator[snapshots.Snapshot]:
        return self._client.pages(snapshots.Snapshot, "/v1/snapshots", {"limit": limit})

    async def page(self, *, limit: int = 25, after: str | None = None) -> Page[snapshots.Snapshot]:
        """One page: ``.items`` and ``.next``, the cursor to pass as ``after`` for the next page."""
        return await self._client.page(snapshots.Snapshot, "/v1/snapshots", limit, after)

    async def get(self, snapshot_id: str) -> snapshots.Snapshot:
        return await self._client.get(snapshots.Snapshot, url_path("/v1/snapshots/{}", snapshot_id))

    async def delete(self, snapshot_id: str) -> None:
        await self._client.request("DELETE", url_path("/v1/snapshots/{}", snapshot_id))

    def invalid_rows(self, snapshot_id: str, *, limit: int = 500) -> AsyncIterator[snapshots.InvalidRow]:
        url = url_path("/v1/snapshots/{}/invalid-rows", snapshot_id)
        return self._client.pages(snapshots.InvalidRow, url, {"limit": limit})

    async def split(self, snapshot_id: str, *, test_pct: float, seed: int | None = None) -> snapshots.Split:
        body = snapshots.SplitCreate.model_validate(
            {"test_pct": test_pct, **({"seed": seed} if seed is not None else {})}
        )
        url = url_path("/v1/snapshots/{}/splits", snapshot_id)
        return parse(snapshots.Split, await self._client.request("POST", url, json=body))

    async def get_split(self, snapshot_id: str, split_id: str) -> snapshots.Split:
        return await self._client.get(snapshots.Split, url_path("/v1/snapshots/{}/splits/{}", snapshot_id, split_id))

    async def compatibility(self, snapshot_id: str, test_snapshot_id: str) -> snapshots.Compatibility:
        url = url_path("/v1/snapshots/{}/compatibility", snapshot_id)
        return await self._client.get(snapshots.Compatibility, url, {"test_snapshot_id": test_snapshot_id})

    async def manifest(self, snapshot_id: str) -> snapshots.SnapshotManifest:
        return await self._client.get(snapshots.SnapshotManifest, url_path("/v1/snapshots/{}/manifest", snapshot_id))

    async def download(self, snapshot_id: str, target: str | Path | IO[bytes]) -> Download:
        """The rows as Parquet."""
        return await self._client.download(url_path("/v1/snapshots/{}/data", snapshot_id), target)

    def watch(
        self, snapshot_id: str, *, interval_s: float = 0.5, timeout_s: float | None = None
    ) -> AsyncIterator[snapshots.Snapshot]:
        return self._client.watch("snapshot", lambda: self.get(snapshot_id), interval_s=interval_s, timeout_s=timeout_s)

    async def wait(
        self,
        snapshot_id: str,
        *,
        interval_s: float = 0.5,
        timeout_s: float | None = 600,
        on_progress: Callable[[snapshots.Snapshot], None] | None = None,
    ) -> snapshots.Snapshot:
        result: snapshots.Snapshot = await self._client.wait(
            "snapshot",
            lambda: self.get(snapshot_id),
            interval_s=interval_s,
            timeout_s=timeout_s,
            on_progress=on_progress,
        )
        return result
