"""Base models: the built-in ones (org-less rows), an org's own registered ones, and their one-time import
into the object store under ``base-models/<sha256>/``."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from automl_common.db.engine import Database
from automl_common.errors import InvalidRequest, NotFound
from automl_common.ids import new_id
from automl_common.storage import ObjectStore, download_prefix, upload_directory, validate_key
from automl_proto import models as schemas
from modelkit import model_types
from trainer_svc.base_models.builtin import BUILTINS, BaseModelUnavailable
from trainer_svc.base_models.repository import BaseModelRepository
from trainer_svc.tables import BaseModelRow

logger = logging.getLogger("automl.trainer.base_models")


class BaseModelNotFound(NotFound):
    pass


def to_schema(row: BaseModelRow) -> schemas.BaseModelInfo:
    return schemas.BaseModelInfo(
        id=row.id,
        name=row.name,
        model_type=row.model_type,
        methods=row.methods,
        description=row.description,
        builtin=row.org_id is None,
        status=row.status,
        sha256=row.sha256,
        error=row.error,
        created_at=row.created_at,
    )


async def sync_builtins(session: AsyncSession) -> None:
    """One row per built-in model; its status says whether its package is installed."""
    repository = BaseModelRepository(session)
    for builtin in BUILTINS.values():
        row = await repository.get(builtin.id)
        installed = builtin.installed()
        if row is None:
            await repository.add(
                BaseModelRow(
                    id=builtin.id,
                    org_id=None,
                    name=builtin.name,
                    model_type=builtin.model_type,
                    methods=list(builtin.methods),
                    description=builtin.description,
                    source=f"package:{','.join(builtin.packages)}",
                    status="available" if installed else "missing",
                    error=None if installed else f"not installed here: {builtin.install_hint}",
                )
            )
        elif row.status in ("missing", "available", "failed") and row.sha256 is None:
            row.status = "available" if installed else "missing"
            row.error = None if installed else f"not installed here: {builtin.install_hint}"
    await repository.flush()


async def list_for_org(session: AsyncSession, org_id: str) -> Sequence[BaseModelRow]:
    return await BaseModelRepository(session).for_org(org_id)


async def get_for_org(session: AsyncSession, org_id: str, base_model_id: str) -> BaseModelRow:
    row = await BaseModelRepository(session).get(base_model_id)
    if row is None or row.org_id not in (None, org_id):
        raise BaseModelNotFound(f"base_model: base model {base_model_id!r} not found (GET /v1/base-models lists them)")
    return row


async def register(session: AsyncSession, org_id: str, body: schemas.BaseModelRegister) -> BaseModelRow:
    methods = _methods_of(body.model_type, body.methods)
    if body.hf_id is not None:
        source = f"hf:{body.hf_id}@{body.revision or 'main'}"
    else:
        assert body.store_path is not None
        prefix = body.store_path.strip("/") + "/"
        try:
            validate_key(prefix + "config.json")
        except ValueError as e:
            raise InvalidRequest(f"store_path: {e}") from e
        if not prefix.startswith(f"orgs/{org_id}/"):
            raise InvalidRequest(f"store_path: must be a folder under your org's own prefix orgs/{org_id}/")
        source = f"store:{prefix}"
    row = BaseModelRow(
        id=new_id("bm"),
        org_id=org_id,
        name=body.name,
        model_type=body.model_type,
        methods=methods,
        description=body.description,
        source=source,
        status="importing",
    )
    return await BaseModelRepository(session).add(row)


def _methods_of(model_type: str, wanted: Sequence[str] | None) -> list[str]:
    """What a registered model offers: what was asked, each a method its type has (all of them by default)."""
    available = model_types.info(model_type).methods
    if wanted is None:
        return list(available)
    refused = [method for method in wanted if method not in available]
    if refused:
        raise InvalidRequest(f"methods: {model_type} models do not take {', '.join(refused)} ({', '.join(available)})")
    return list(dict.fromkeys(wanted))


def content_hash(directory: Path) -> str:
    """sha256 over every file's relative path and bytes, in path order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(path.relative_to(directory).as_posix().encode() + b"\0")
        with path.open("rb") as handle:
            while chunk := handle.read(1024 * 1024):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


def check_model_folder(directory: Path, model_type: str) -> None:
    try:
        model_types.task(model_type).check_base_model(directory)
    except model_types.ModelTypeError as e:
        raise BaseModelUnavailable(str(e)) from e


def _from_hub(reference: str, folder: Path) -> None:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    repo_id, _, revision = reference.partition("@")
    try:
        snapshot_download(
            repo_id=repo_id,
            revision=revision or None,
            local_dir=str(folder),
            allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model", "1_Pooling/*"],
        )
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError, ValueError) as e:
        raise BaseModelUnavailable(f"could not fetch {repo_id} from the Hugging Face hub: {e}") from e
    shutil.rmtree(folder / ".cache", ignore_errors=True)


class BaseModelImporter:
    """Imports a base model into the object store once (a lock per model within this process)."""

    def __init__(self, database: Database, store: ObjectStore) -> None:
        self.database = database
        self.store = store
        self._locks: dict[str, asyncio.Lock] = {}

    async def ensure_ready(self, base_model_id: str) -> BaseModelRow:
        lock = self._locks.setdefault(base_model_id, asyncio.Lock())
        async with lock:
            async with self.database.session() as session:
                row = await BaseModelRepository(session).get(base_model_id)
                if row is None:
                    raise BaseModelUnavailable(f"base model {base_model_id} no longer exists")
                if row.status == "ready":
                    return row
                if row.status == "missing":
                    raise BaseModelUnavailable(row.error or "base model not installed")
                source, model_type = row.source, row.model_type
                row.status = "importing"
            try:
                sha256, prefix = await self._import(base_model_id, source, model_type)
            except (BaseModelUnavailable, OSError) as error:
                async with self.database.session() as session:
                    row = await BaseModelRepository(session).get(base_model_id)
                    assert row is not None
                    row.status, row.error = "failed", str(error)
                raise BaseModelUnavailable(str(error)) from error
            async with self.database.session() as session:
                row = await BaseModelRepository(session).get(base_model_id)
                assert row is not None
                row.status, row.sha256, row.store_prefix, row.error = "ready", sha256, prefix, None
                return row

    async def _import(self, base_model_id: str, source: str, model_type: str) -> tuple[str, str]:
        with tempfile.TemporaryDirectory(prefix="automl-base-model-") as work:
            folder = Path(work) / "model"
            if source.startswith("store:"):
                count = await download_prefix(self.store, source.removeprefix("store:"), folder)
                if not count:
                    raise BaseModelUnavailable(f"nothing in the object store under {source.removeprefix('store:')}")
            elif source.startswith("hf:"):
                await asyncio.to_thread(_from_hub, source.removeprefix("hf:"), folder)
            else:
                await asyncio.to_thread(BUILTINS[base_model_id].materialise, folder)
            await asyncio.to_thread(check_model_folder, folder, model_type)
            sha256 = await asyncio.to_thread(content_hash, folder)
            prefix = f"base-models/{sha256}/"
            if not await self.store.exists(prefix + "config.json"):
                await upload_directory(self.store, folder, prefix)
            logger.info("base model %s imported as %s", base_model_id, prefix)
            shutil.rmtree(folder, ignore_errors=True)
            return sha256, prefix
