"""What a run is made from, checked: its snapshots (the org's, ready) and its parent model (a succeeded model
of the org, of the same base model and method, of a type that starts from a parent), and how many epochs a run
from a parent then takes."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from automl_common.clients import SnapshotsClient
from automl_common.errors import Conflict, InvalidRequest, NotFound
from automl_common.http import InternalClient
from automl_proto import models as schemas
from automl_proto.snapshots import Snapshot
from modelkit import model_types
from trainer_svc.models.repository import ModelRepository


class ModelNotFound(NotFound):
    pass


class SnapshotNotFound(NotFound):
    pass


class SnapshotNotReady(Conflict):
    pass


async def ready_snapshot(snapshots: InternalClient, org_id: str, snapshot_id: str, field: str) -> Snapshot:
    snapshot = await SnapshotsClient(snapshots).snapshot(
        org_id, snapshot_id, missing=lambda _: SnapshotNotFound(f"{field}: snapshot {snapshot_id!r} not found")
    )
    if snapshot.status != "ready":
        raise SnapshotNotReady(f"{field}: snapshot {snapshot_id!r} is {snapshot.status}; it must be ready")
    return snapshot


async def check_parent(
    session: AsyncSession,
    snapshots: InternalClient,
    org_id: str,
    body: schemas.ModelCreate,
    model_type: str,
    base_id: str,
    method: str,
    train: Snapshot,
) -> int | None:
    """Refuse a parent the run cannot start from; the run's continued epochs (``_continued_epochs``), or None."""
    assert body.parent_model_id is not None
    if not model_types.info(model_type).can("from_parent"):
        raise InvalidRequest(f"parent_model_id: {model_type} models start from their base model, not a parent")
    parent = await ModelRepository(session).get_in_org(org_id, body.parent_model_id)
    if parent is None:
        raise ModelNotFound(f"parent_model_id: model {body.parent_model_id!r} not found")
    if parent.status != "succeeded":
        raise InvalidRequest(f"parent_model_id: the parent is {parent.status}; it must have succeeded")
    if parent.base_model_id != base_id:
        raise InvalidRequest(f"parent_model_id: the parent was trained on {parent.base_model_id}, not {base_id}")
    if parent.method != method:
        raise InvalidRequest(f"parent_model_id: the parent was trained with {parent.method}, not {method}")
    return await _continued_epochs(snapshots, org_id, body, method, train, parent.train_snapshot_id)


async def _continued_epochs(
    snapshots: InternalClient, org_id: str, body: schemas.ModelCreate, method: str, train: Snapshot, parent_train: str
) -> int | None:
    """The method's continued epochs (``CONTINUED_MAX_EPOCHS``) for a run from a parent whose every head starts
    from the parent's (each of its classes one the parent was trained on), unless the options give max_epochs;
    None for any other run."""
    epochs = schemas.CONTINUED_MAX_EPOCHS.get(method)
    if epochs is None or body.options.max_epochs is not None:
        return None
    theirs = {
        head.name: head for head in (await ready_snapshot(snapshots, org_id, parent_train, "parent_model_id")).heads
    }
    for head in train.heads:
        parent_head = theirs.get(head.name)
        if parent_head is None or parent_head.multilabel != head.multilabel:
            return None
        if not {c.name for c in head.classes} <= {c.name for c in parent_head.classes}:
            return None
    return epochs
