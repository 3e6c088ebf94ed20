"""Snapshot use cases. Snapshots are immutable: there is no update, only create, read and delete."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from pathlib import Path

import pyarrow.parquet as pq
from sqlalchemy.ext.asyncio import AsyncSession

from automl_common.clients import DatasetsClient
from automl_common.errors import Conflict, InvalidRequest, NotFound
from automl_common.http import InternalClient
from automl_common.ids import new_id
from automl_common.quotas import enforce_org_quota
from automl_common.schemas import Page
from automl_common.storage import ObjectStore, download_file
from automl_proto import snapshots as schemas
from automl_proto.model_types import COLUMN_FIELDS
from automl_proto.training import ReadySnapshot
from snapshot_svc.models import Snapshot, Split
from snapshot_svc.settings import SnapshotSettings
from snapshot_svc.snapshots.build import column_problems, snapshot_prefix
from snapshot_svc.snapshots.references import DatasetNotFound, holds_images, set_dataset_reference
from snapshot_svc.snapshots.repository import SnapshotRepository
from snapshot_svc.snapshots.splits import compute_split, write_split
from snapshot_svc.snapshots.validation import Spec


class SnapshotNotFound(NotFound):
    pass


class DatasetNotReady(Conflict):
    pass


class MappingNotConfirmed(Conflict):
    pass


class SnapshotNotReady(Conflict):
    pass


class SnapshotInUse(Conflict):
    pass


class SplitNotFound(NotFound):
    pass


class InvalidColumns(InvalidRequest):
    pass


def to_schema(snapshot: Snapshot) -> schemas.Snapshot:
    spec = snapshot.spec
    return schemas.Snapshot(
        id=snapshot.id,
        name=snapshot.name,
        dataset_id=snapshot.dataset_id,
        dataset_version=snapshot.dataset_version,
        type=snapshot.type,
        **{name: spec.get(name) for name in COLUMN_FIELDS},
        max_invalid_row_pct=spec.get("max_invalid_row_pct", 10.0),
        status=snapshot.status,
        progress=schemas.SnapshotProgress(rows_read=snapshot.rows_read),
        row_count=snapshot.row_count,
        invalid_row_count=snapshot.invalid_row_count,
        invalid_reasons=snapshot.invalid_reasons or {},
        heads=[schemas.Head(**head) for head in snapshot.heads or []],
        stats=snapshot.stats or {},
        sha256=snapshot.sha256,
        error=snapshot.error,
        created_at=snapshot.created_at,
    )


async def get_snapshot_row(session: AsyncSession, org_id: str, snapshot_id: str) -> Snapshot:
    snapshot = await SnapshotRepository(session).get_in_org(org_id, snapshot_id)
    if snapshot is None:
        raise SnapshotNotFound(f"snapshot {snapshot_id!r} not found")
    return snapshot


def require_ready(snapshot: Snapshot) -> None:
    if snapshot.status != "ready":
        raise SnapshotNotReady(f"snapshot {snapshot.id!r} is {snapshot.status}")


async def create_snapshot(
    session: AsyncSession,
    datasets: InternalClient,
    settings: SnapshotSettings,
    org_id: str,
    body: schemas.SnapshotCreate,
) -> Snapshot:
    dataset = await DatasetsClient(datasets).dataset(
        org_id, body.dataset_id, missing=lambda _: DatasetNotFound(f"dataset_id: dataset {body.dataset_id!r} not found")
    )
    if dataset.status != "ready":
        raise DatasetNotReady(f"dataset_id: dataset {body.dataset_id!r} is {dataset.status}; wait until it is ready")
    if not dataset.mapping_confirmed:
        raise MappingNotConfirmed(
            f"dataset_id: confirm the column mapping of dataset {body.dataset_id!r} first "
            "(PUT /v1/datasets/{id}/columns)"
        )
    spec_dict = body.model_dump(exclude={"dataset_id", "name", "type"})
    spec = Spec.from_dict({"type": body.type, **spec_dict}, settings.max_text_chars)
    problems = column_problems(spec, {column.name: column.type for column in dataset.columns})
    if problems:
        raise InvalidColumns("; ".join(problems))
    repository = SnapshotRepository(session)
    snapshot = Snapshot(
        id=new_id("snap"),
        org_id=org_id,
        name=body.name,
        dataset_id=body.dataset_id,
        type=body.type,
        spec=spec_dict,
        status="creating",
        rows_read=0,
        row_count=0,
        invalid_row_count=0,
        invalid_reasons={},
        heads=[],
        stats={},
    )
    # An image snapshot's images stay in dataset-svc: the dataset is kept while the snapshot exists. The hold
    # is asked for before this service takes any lock or writes anything (none is held across the call), and
    # let go if the snapshot is refused or cannot be stored.
    images_held = holds_images(body.type)
    if images_held:
        await set_dataset_reference(datasets, "PUT", org_id, body.dataset_id, snapshot.id)
    try:
        await enforce_org_quota(
            session,
            Snapshot,
            org_id,
            used=lambda: repository.count_building(org_id),
            adding=1,
            limit=settings.max_building_snapshots_per_org,
            what="snapshot builds (creating)",
            setting="AUTOML_SNAPSHOT_MAX_BUILDING_SNAPSHOTS_PER_ORG",
        )
        await repository.add(snapshot)
    except BaseException:
        if images_held:
            with contextlib.suppress(Exception):
                await set_dataset_reference(datasets, "DELETE", org_id, body.dataset_id, snapshot.id)
        raise
    return snapshot


async def list_snapshots(
    session: AsyncSession, org_id: str, *, limit: int, after: str | None
) -> Page[schemas.Snapshot]:
    rows, next_cursor = await SnapshotRepository(session).page_for_org(org_id, limit=limit, after=after)
    return Page[schemas.Snapshot](items=[to_schema(row) for row in rows], next=next_cursor)


async def list_invalid_rows(
    session: AsyncSession, org_id: str, snapshot_id: str, *, limit: int, after: str | None
) -> Page[schemas.InvalidRow]:
    await get_snapshot_row(session, org_id, snapshot_id)
    if after is not None and not after.isdigit():
        raise InvalidRequest("after: not a cursor from a previous page")
    rows, last = await SnapshotRepository(session).invalid_rows(
        snapshot_id, limit=limit, after=int(after) if after is not None else None
    )
    return Page[schemas.InvalidRow](
        items=[schemas.InvalidRow(row_id=row.row_id, index=row.index, reasons=row.reasons) for row in rows],
        next=None if last is None else str(last),
    )


async def delete_snapshot(
    session: AsyncSession, store: ObjectStore, datasets: InternalClient, org_id: str, snapshot_id: str
) -> None:
    snapshot = await get_snapshot_row(session, org_id, snapshot_id)
    users = await SnapshotRepository(session).references(snapshot_id)
    if users:
        raise SnapshotInUse(
            f"snapshot {snapshot_id!r} is used by model(s) {', '.join(sorted(users))}; delete them first"
        )
    # The dataset's hold is let go first: no lock of ours is held across the call, and if it fails nothing
    # is deleted.
    if holds_images(snapshot.type):
        await set_dataset_reference(datasets, "DELETE", org_id, snapshot.dataset_id, snapshot_id)
    await SnapshotRepository(session).delete(snapshot)
    await store.delete_prefix(snapshot_prefix(org_id, snapshot_id))


async def add_reference(session: AsyncSession, org_id: str, snapshot_id: str, model_id: str) -> None:
    await get_snapshot_row(session, org_id, snapshot_id)
    await SnapshotRepository(session).add_reference(snapshot_id, model_id)


async def remove_reference(session: AsyncSession, org_id: str, snapshot_id: str, model_id: str) -> None:
    await get_snapshot_row(session, org_id, snapshot_id)
    await SnapshotRepository(session).remove_reference(snapshot_id, model_id)


async def files(session: AsyncSession, org_id: str, snapshot_id: str, split_id: str | None) -> ReadySnapshot:
    snapshot = await get_snapshot_row(session, org_id, snapshot_id)
    require_ready(snapshot)
    # a ready snapshot has both
    assert snapshot.sha256 is not None
    assert snapshot.data_key is not None
    split_key = None if split_id is None else (await get_split(session, org_id, snapshot_id, split_id)).data_key
    return ReadySnapshot(
        id=snapshot.id,
        name=snapshot.name,
        type=snapshot.type,
        sha256=snapshot.sha256,
        data_key=snapshot.data_key,
        heads=snapshot.heads,
        row_count=snapshot.row_count,
        duplicates=(snapshot.stats or {}).get("duplicates"),
        split_key=split_key,
    )


def split_schema(split: Split) -> schemas.Split:
    return schemas.Split(
        id=split.id,
        snapshot_id=split.snapshot_id,
        seed=split.seed,
        test_pct=split.test_pct,
        train_rows=split.train_rows,
        test_rows=split.test_rows,
        heads=[schemas.SplitHead(**head) for head in split.heads],
        created_at=split.created_at,
    )


async def create_split(
    session: AsyncSession, store: ObjectStore, org_id: str, snapshot_id: str, body: schemas.SplitCreate
) -> Split:
    snapshot = await get_snapshot_row(session, org_id, snapshot_id)
    require_ready(snapshot)
    repository = SnapshotRepository(session)
    existing = await repository.find_split(snapshot_id, body.seed, body.test_pct)
    if existing is not None:
        return existing  # deterministic: the same inputs give the same split
    assert snapshot.data_key is not None
    heads = snapshot.spec.get("heads", [])
    split_id = new_id("split")
    with tempfile.TemporaryDirectory(prefix="automl-split-") as directory:
        data = Path(directory) / "data.parquet"
        await download_file(store, snapshot.data_key, data)
        result = await asyncio.to_thread(
            compute_split,
            data,
            [head["column"] for head in heads],
            [head.get("multilabel", False) for head in heads],
            body.test_pct,
            body.seed,
        )
        out = Path(directory) / "split.parquet"
        await asyncio.to_thread(write_split, out, result)
        key = f"{snapshot_prefix(org_id, snapshot_id)}splits/{split_id}.parquet"
        await store.put(key, out.read_bytes(), content_type="application/vnd.apache.parquet")
    split = Split(
        id=split_id,
        snapshot_id=snapshot_id,
        seed=body.seed,
        test_pct=body.test_pct,
        train_rows=result.train_rows,
        test_rows=result.test_rows,
        heads=result.heads,
        data_key=key,
    )
    await SnapshotRepository(session).add_split(split)
    return split


async def get_split(session: AsyncSession, org_id: str, snapshot_id: str, split_id: str) -> Split:
    await get_snapshot_row(session, org_id, snapshot_id)
    split = await SnapshotRepository(session).get_split(snapshot_id, split_id)
    if split is None:
        raise SplitNotFound(f"split {split_id!r} not found for snapshot {snapshot_id!r}")
    return split


async def compatibility(
    session: AsyncSession, store: ObjectStore, org_id: str, train_id: str, test_id: str
) -> schemas.Compatibility:
    train = await get_snapshot_row(session, org_id, train_id)
    test = await get_snapshot_row(session, org_id, test_id)
    require_ready(train)
    require_ready(test)
    problems: list[str] = []
    if train.type != test.type:
        problems.append(f"type: the test snapshot is {test.type}, the train snapshot {train.type}")
    train_heads = {head["name"]: head for head in train.heads}
    test_heads = {head["name"]: head for head in test.heads}
    if set(train_heads) != set(test_heads):
        problems.append(f"heads: train has {sorted(train_heads)}, test has {sorted(test_heads)}")
    for name in sorted(set(train_heads) & set(test_heads)):
        if train_heads[name]["multilabel"] != test_heads[name]["multilabel"]:
            problems.append(f"heads.{name}: multi-label in one snapshot and not in the other")
        unknown = {c["name"] for c in test_heads[name]["classes"]} - {c["name"] for c in train_heads[name]["classes"]}
        if unknown:
            problems.append(f"heads.{name}: test classes {sorted(unknown)} are not among the train classes")
    with tempfile.TemporaryDirectory(prefix="automl-compat-") as directory:
        assert train.data_key is not None
        assert test.data_key is not None
        await download_file(store, train.data_key, Path(directory) / "train.parquet")
        await download_file(store, test.data_key, Path(directory) / "test.parquet")
        duplicates = await asyncio.to_thread(
            _leakage, Path(directory) / "train.parquet", Path(directory) / "test.parquet"
        )
    return schemas.Compatibility(
        compatible=not problems, problems=problems, leakage=schemas.Leakage(duplicate_rows=duplicates)
    )


def _leakage(train: Path, test: Path) -> int:
    seen = set(pq.read_table(train, columns=["input_hash"]).column("input_hash").to_pylist())
    return sum(
        1 for value in pq.read_table(test, columns=["input_hash"]).column("input_hash").to_pylist() if value in seen
    )
