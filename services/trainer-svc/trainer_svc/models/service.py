"""Model (training run) use cases: create with every check up front, read, cancel, delete."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession

from automl_common.clients import SnapshotsClient
from automl_common.errors import Conflict, InvalidRequest
from automl_common.http import InternalClient, url_path
from automl_common.ids import new_id
from automl_common.quotas import OrgQuotaExceeded, enforce_org_quota
from automl_common.schemas import Page
from automl_common.storage import ObjectStore
from automl_proto import models as schemas
from automl_proto.inference import ModelArtifacts
from automl_proto.snapshots import Snapshot, SplitCreate
from automl_proto.training import RunLayout
from modelkit import model_types
from trainer_svc.base_models import service as base_models
from trainer_svc.base_models.repository import BaseModelRepository
from trainer_svc.models import status
from trainer_svc.models.inputs import ModelNotFound, check_parent, ready_snapshot
from trainer_svc.models.repository import ModelRepository
from trainer_svc.settings import TrainerSettings
from trainer_svc.tables import TrainingModel

TEXT_MAX_LENGTH = 512  # the position embeddings of the BERT-like encoders text classifiers start from

# The families the training worker has a driver for (``trainer_svc.worker.__main__.DRIVERS``, which imports
# torch): a type of another family has its datasets, snapshots and modelkit code, and is refused here by name.
TRAINED_FAMILIES: frozenset[str] = frozenset({"classifier", "llm", "detector", "segmenter"})


class ModelInUse(Conflict):
    pass


class ModelNotCancellable(Conflict):
    pass


class ModelNotFinished(Conflict):
    pass


def to_schema(model: TrainingModel) -> schemas.Model:
    return schemas.Model(
        id=model.id,
        name=model.name,
        description=model.description,
        model_type=model.model_type,
        base_model=model.base_model_id,
        method=model.method,
        train_snapshot_id=model.train_snapshot_id,
        test_snapshot_id=model.test_snapshot_id,
        test_split_pct=model.test_split_pct,
        split_id=model.split_id,
        parent_model_id=model.parent_model_id,
        options=schemas.TrainingOptions.model_validate(model.options),
        status=model.status,
        progress=schemas.TrainingProgress(**model.progress),
        metrics=model.metrics,
        error=model.error,
        attempts=model.attempts,
        created_at=model.created_at,
        started_at=model.started_at,
        finished_at=model.finished_at,
    )


def snapshot_ids(train: str, test: str | None) -> list[str]:
    """The snapshots a model reads, each once."""
    return [train] if test is None or test == train else [train, test]


def output_prefix(org_id: str, model_id: str) -> str:
    return f"orgs/{org_id}/models/{model_id}/"


async def get_model_row(session: AsyncSession, org_id: str, model_id: str) -> TrainingModel:
    model = await ModelRepository(session).get_in_org(org_id, model_id)
    if model is None:
        raise ModelNotFound(f"model {model_id!r} not found")
    return model


@dataclass(frozen=True)
class RunLimits:
    """What one run may ask of the job backend."""

    max_active: int = 1_000_000  # queued or running trainings of one org
    max_world_size: int = 8  # gpus x nodes
    max_deadline_s: int = 7 * 24 * 3600

    @classmethod
    def of(cls, settings: TrainerSettings) -> RunLimits:
        local = settings.job_backend == "local"  # there, every rank is a process of this host
        return cls(
            max_active=settings.max_active_trainings_per_org,
            max_world_size=settings.max_local_processes if local else settings.max_world_size,
            max_deadline_s=settings.max_job_deadline_s,
        )


def _check_run(body: schemas.ModelCreate, limits: RunLimits) -> None:
    options = body.options
    world = options.world_size
    if world > limits.max_world_size:
        raise InvalidRequest(
            f"options.gpus: gpus x nodes is {world}; this platform runs at most {limits.max_world_size} ranks"
        )
    if world > 1 and body.method == "last_layer":
        raise InvalidRequest(
            "options.gpus: last_layer trains the heads on features computed once and runs in one process; "
            "leave gpus and nodes at 1, or use lora or full"
        )
    if options.deadline_s is not None and options.deadline_s > limits.max_deadline_s:
        raise InvalidRequest(f"options.deadline_s: at most {limits.max_deadline_s} s here, not {options.deadline_s}")


def _check_options(body: schemas.ModelCreate, heads: dict[str, list[str]]) -> None:
    selection = body.options.selection
    if selection.head is not None:
        if selection.head not in heads:
            raise InvalidRequest(f"options.selection.head: {selection.head!r} is not one of the heads {sorted(heads)}")
        if selection.class_ is not None and selection.class_ not in heads[selection.head]:
            raise InvalidRequest(
                f"options.selection.class: {selection.class_!r} is not a class of head {selection.head!r}"
            )
    if isinstance(body.options.class_weights, dict):
        for head, weights in body.options.class_weights.items():
            if head not in heads:
                raise InvalidRequest(f"options.class_weights: {head!r} is not one of the heads {sorted(heads)}")
            unknown = sorted(set(weights) - set(heads[head]))
            if unknown:
                raise InvalidRequest(f"options.class_weights.{head}: {unknown} are not classes of that head")
    lora = body.options.lora
    if body.method != "lora" and body.options.model_fields_set & {"lora"}:
        raise InvalidRequest(f"options.lora: only for method lora, not {body.method}")
    if lora.target_modules is not None and not lora.target_modules:
        raise InvalidRequest("options.lora.target_modules: give at least one module name, or leave it out")


async def create_model(
    session: AsyncSession,
    snapshots: InternalClient,
    org_id: str,
    body: schemas.ModelCreate,
    limits: RunLimits | None = None,
) -> TrainingModel:
    limits = limits or RunLimits()
    if body.method is not None:
        _check_run(body, limits)
    model_type = body.model_type
    train: Snapshot | None = None
    if model_type is None:  # the training snapshot's
        train = await ready_snapshot(snapshots, org_id, body.train_snapshot_id, "train_snapshot_id")
        model_type = train.type
    base = await base_models.get_for_org(session, org_id, body.base_model)
    if base.model_type != model_type:
        given = "" if body.model_type is not None else " (the training snapshot's type)"
        raise InvalidRequest(f"base_model: {base.id} is for {base.model_type}, not {model_type}{given}")
    method = body.method
    if method is None:  # the type's first method that the base model supports
        known = model_types.info(model_type).methods if model_type in model_types.TABLE else ()
        method = cast(schemas.Method | None, next((m for m in known if m in base.methods), None))
        if method is None:
            raise InvalidRequest(f"method: {base.id} supports none of {list(known)}; name one")
        body = body.model_copy(update={"method": method})
        _check_run(body, limits)
    try:
        model_types.info(model_type).check_method(method)
    except model_types.UnknownModelType as e:
        raise InvalidRequest(f"model_type: {e}") from e
    except model_types.ModelTypeError as e:  # its message names the field
        raise InvalidRequest(str(e)) from e
    if model_types.info(model_type).family not in TRAINED_FAMILIES:
        raise InvalidRequest(f"model_type: {model_type} models cannot be trained yet (no training driver for them)")
    if method not in base.methods:
        raise InvalidRequest(f"method: {base.id} supports {base.methods}, not {method!r}")
    if base.status in ("missing", "failed"):
        raise Conflict(f"base_model: {base.id} cannot be used: {base.error}")
    if train is None:
        train = await ready_snapshot(snapshots, org_id, body.train_snapshot_id, "train_snapshot_id")
    if train.type != model_type:
        raise InvalidRequest(f"train_snapshot_id: snapshot is {train.type}, the model {model_type}")
    heads = {head.name: [c.name for c in head.classes] for head in train.heads}
    if body.test_snapshot_id is not None:
        await ready_snapshot(snapshots, org_id, body.test_snapshot_id, "test_snapshot_id")
        compatibility = await SnapshotsClient(snapshots).compatibility(
            org_id, body.train_snapshot_id, body.test_snapshot_id
        )
        if not compatibility.compatible:
            raise InvalidRequest(f"test_snapshot_id: not compatible: {'; '.join(compatibility.problems)}")
    continued = None  # the epochs of a run that continues from its parent's heads
    if body.parent_model_id is not None:
        continued = await check_parent(session, snapshots, org_id, body, model_type, base.id, method, train)
    if model_type == "text_classification" and (body.options.max_length or 0) > TEXT_MAX_LENGTH:
        raise InvalidRequest(f"options.max_length: a text classifier reads at most {TEXT_MAX_LENGTH} tokens")
    _check_options(body, heads)
    repository = ModelRepository(session)
    # A first look at the quota, before the split and the references are made (the binding check, under the
    # org's lock, is made with the insert below).
    active = await repository.count_active(org_id)
    if active >= limits.max_active:
        raise OrgQuotaExceeded(
            f"trainings (queued or running): the org has {active}, the limit is {limits.max_active} "
            "(setting AUTOML_TRAINER_MAX_ACTIVE_TRAININGS_PER_ORG). Free some first, or ask the operator"
        )

    options = body.options.resolved(method, model_types.info(model_type).method_defaults.get(method))
    if continued is not None:
        options = options.model_copy(update={"max_epochs": continued})
    model_id = new_id("model")
    split_id = None
    if body.test_split_pct is not None:
        split = await SnapshotsClient(snapshots).split(
            org_id,
            body.train_snapshot_id,
            SplitCreate.model_construct(test_pct=body.test_split_pct, seed=body.options.seed),
            refused=lambda reason: InvalidRequest(f"test_split_pct: {reason}"),
        )
        split_id = split.id
    model = TrainingModel(
        id=model_id,
        org_id=org_id,
        name=body.name,
        description=body.description,
        model_type=model_type,
        base_model_id=base.id,
        method=method,
        train_snapshot_id=body.train_snapshot_id,
        test_snapshot_id=body.test_snapshot_id,
        test_split_pct=body.test_split_pct,
        split_id=split_id,
        parent_model_id=body.parent_model_id,
        options=options.model_dump(mode="json", by_alias=True),
        status="queued",
        progress={},
        attempts=0,
        output_prefix=output_prefix(org_id, model_id),
        cancel_requested=False,
        event_seq=0,
    )
    # The references in snapshot-svc first, while this service holds no lock (the quota's is taken after),
    # then the row; if anything fails, the references made are taken back and nothing is stored.
    referenced: list[str] = []
    try:
        for snapshot_id in snapshot_ids(body.train_snapshot_id, body.test_snapshot_id):
            response = await snapshots.request(
                "PUT", url_path("/internal/snapshots/{}/references/{}", snapshot_id, model_id), org_id=org_id
            )
            response.raise_for_status()
            referenced.append(snapshot_id)
        await enforce_org_quota(
            session,
            TrainingModel,
            org_id,
            used=lambda: repository.count_active(org_id),
            adding=1,
            limit=limits.max_active,
            what="trainings (queued or running)",
            setting="AUTOML_TRAINER_MAX_ACTIVE_TRAININGS_PER_ORG",
        )
        await repository.add(model)
        await repository.add_event(model_id, "queued", f"{method} on {base.name}")
        if continued is not None:
            await repository.add_event(
                model_id, "log", f"continuing from the parent's heads: {continued} epochs (max_epochs overrides)"
            )
    except BaseException:
        for snapshot_id in referenced:
            with contextlib.suppress(Exception):
                await snapshots.request(
                    "DELETE", url_path("/internal/snapshots/{}/references/{}", snapshot_id, model_id), org_id=org_id
                )
        raise
    return model


async def list_models(session: AsyncSession, org_id: str, *, limit: int, after: str | None) -> Page[schemas.Model]:
    rows, cursor = await ModelRepository(session).page_for_org(org_id, limit=limit, after=after)
    return Page(items=[to_schema(row) for row in rows], next=cursor)


async def request_cancel(session: AsyncSession, org_id: str, model_id: str) -> TrainingModel:
    """Mark the model cancelled now; the dispatcher stops its job (SIGTERM, then SIGKILL)."""
    model = await get_model_row(session, org_id, model_id)
    if status.is_terminal(model.status):
        raise ModelNotCancellable(f"model {model_id!r} is already {model.status}")
    model.cancel_requested = True
    status.move(model, "cancelled", "api")
    await ModelRepository(session).add_event(model.id, "cancelled", "cancelled on request")
    return model


async def delete_model(
    session: AsyncSession, snapshots: InternalClient, store: ObjectStore, org_id: str, model_id: str
) -> TrainingModel:
    model = await get_model_row(session, org_id, model_id)
    repository = ModelRepository(session)
    served_by = await repository.deployments_of(model.id)
    if served_by:
        raise ModelInUse(
            f"model {model_id!r} is served by deployment(s) {', '.join(sorted(served_by))}; delete them first"
        )
    # The snapshots' holds are let go before this service writes (no lock of ours is held across the calls;
    # a failure deletes nothing), then the row and the files.
    for snapshot_id in snapshot_ids(model.train_snapshot_id, model.test_snapshot_id):
        response = await snapshots.request(
            "DELETE", url_path("/internal/snapshots/{}/references/{}", snapshot_id, model.id), org_id=org_id
        )
        if response.status_code != 404:
            response.raise_for_status()
    await repository.delete(model)
    await store.delete_prefix(model.output_prefix)
    return model


async def add_deployment_reference(session: AsyncSession, org_id: str, model_id: str, deployment_id: str) -> None:
    model = await get_model_row(session, org_id, model_id)
    await ModelRepository(session).add_reference(model.id, deployment_id)


async def remove_deployment_reference(session: AsyncSession, org_id: str, model_id: str, deployment_id: str) -> None:
    model = await get_model_row(session, org_id, model_id)
    await ModelRepository(session).remove_reference(model.id, deployment_id)


class ModelNotReady(Conflict):
    pass


async def artifacts_of(session: AsyncSession, org_id: str, model_id: str) -> ModelArtifacts:
    """Where a succeeded model's artifacts and its base model's files are (for inference-svc)."""
    model = await get_model_row(session, org_id, model_id)
    if model.status != "succeeded":
        raise ModelNotReady(f"model {model_id!r} is {model.status}; only a succeeded model can serve predictions")
    base = await BaseModelRepository(session).get(model.base_model_id)
    if base is None or base.sha256 is None or base.store_prefix is None:
        raise ModelNotReady(f"the base model of {model_id!r} is no longer available")
    return ModelArtifacts(
        model_id=model.id,
        name=model.name,
        model_type=model.model_type,
        method=model.method,
        status=model.status,
        artifacts_prefix=RunLayout(model.output_prefix).artifacts,
        base_model_sha256=base.sha256,
        base_model_prefix=base.store_prefix,
    )
