"""A succeeded llm model as files plain ``transformers`` loads: ``merged`` (a LoRA adapter folded into its base
model's weights, or a full fine-tune's weights; safetensors with the tokenizer and its chat template) or
``adapter`` (a LoRA model's peft adapter and tokenizer, to load over the base model). A detector's or a
segmenter's ``merged`` export is its one folder: its manifest (classes, input size, normalisation, backbone)
and every weight in one safetensors file, which modelkit (or plain torch with the manifest) loads. Built once
per model and format in a process of its own (``python -m trainer_svc.models.export``: loading and merging a model takes
hundreds of MiB, which go with that process, not trainer-svc's), kept in the store beside the model's
artifacts (deleted with the model), and streamed as an uncompressed tar of one folder named after the model.
Builds are bounded: ``max_exports_per_org`` at once per org (429 beyond), ``max_exports`` at once in all (the
rest wait their turn)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sys
import tarfile
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal, get_args

from sqlalchemy.ext.asyncio import AsyncSession

from automl_common.db import release
from automl_common.environ import child_environment
from automl_common.errors import InvalidRequest, RateLimited, ServiceUnavailable
from automl_common.quotas import OrgSlots
from automl_common.storage import ObjectStore, download_prefix, upload_file
from automl_proto.training import RunLayout
from modelkit import model_types
from trainer_svc.models.service import ModelNotFinished, artifacts_of, get_model_row

ExportFormat = Literal["merged", "adapter"]


def _build(
    model_id: str, model_type: str, export_format: ExportFormat, artifacts: Path, base: Path, tar_path: Path
) -> None:
    folder = tar_path.parent / model_id
    if model_types.info(model_type).family != "llm":  # every weight is in the model's own folder already
        shutil.copytree(artifacts, folder)
    elif export_format == "merged":
        llm = model_types.llm_task(model_type)
        model, tokenizer, _ = llm.load(artifacts, base, merge=True)
        model.save_pretrained(str(folder))  # type: ignore[operator]
        tokenizer.save_pretrained(str(folder))
    else:
        shutil.copytree(artifacts / "adapter", folder)
        shutil.copytree(artifacts / "tokenizer", folder, dirs_exist_ok=True)
    with tarfile.open(tar_path, "w") as archive:
        archive.add(folder, arcname=model_id)


class ExportsBusy(RateLimited):
    pass


class ExportFailed(ServiceUnavailable):
    pass


async def build_apart(
    model_id: str,
    model_type: str,
    export_format: ExportFormat,
    artifacts: Path,
    base: Path,
    tar_path: Path,
    timeout_s: float,
) -> None:
    """``_build`` in a child process (only what it needs of the environment: no token, no database)."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "trainer_svc.models.export",
        model_id,
        model_type,
        export_format,
        str(artifacts),
        str(base),
        str(tar_path),
        env=child_environment({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(timeout_s):
            _, output = await child.communicate()
    except TimeoutError:
        child.kill()
        await child.wait()
        raise ExportFailed(f"the export of model {model_id!r} took over {timeout_s:g} s") from None
    if child.returncode != 0:
        last = output.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise ExportFailed(f"the export of model {model_id!r} failed: {last[0][:300]}")


class BuildSlots:
    """At most ``max_per_org`` builds of one org at once (the next is refused: ``ExportsBusy``), and at most
    ``max_builds`` running in all (the next waits for a slot)."""

    def __init__(self, max_per_org: int, max_builds: int) -> None:
        self._per_org = OrgSlots(
            max_per_org, error=ExportsBusy, what="exports being built", setting="max_exports_per_org"
        )
        self._running = asyncio.Semaphore(max_builds)

    @contextlib.asynccontextmanager
    async def taken(self, org_id: str) -> AsyncIterator[None]:
        self._per_org.take(org_id)
        try:
            async with self._running:
                yield
        finally:
            self._per_org.give_back(org_id)


class Exporter:
    def __init__(
        self, store: ObjectStore, *, max_per_org: int = 2, max_builds: int = 2, timeout_s: float = 1800.0
    ) -> None:
        self.store = store
        self.timeout_s = timeout_s
        self._locks: dict[str, asyncio.Lock] = {}
        self.slots = BuildSlots(max_per_org, max_builds)

    async def export(self, session: AsyncSession, org_id: str, model_id: str, export_format: ExportFormat) -> str:
        """The store key of the model's export in ``export_format``, built on the first call."""
        model = await get_model_row(session, org_id, model_id)
        method = model.method
        if model.status != "succeeded":
            raise ModelNotFinished(f"model {model_id!r} is {model.status}; it can be exported once it has succeeded")
        if not model_types.info(model.model_type).can("exportable"):
            raise InvalidRequest(f"format: {model.model_type} models are not exported; model {model_id!r} is one")
        if export_format == "adapter" and model.method != "lora":
            raise InvalidRequest(f"format: adapter is for LoRA models; model {model_id!r} was trained {model.method}")
        key = RunLayout(model.output_prefix).export(export_format)
        files = await artifacts_of(session, org_id, model_id)
        await release(session)  # no transaction is held while the export is built (it can take minutes)
        if await self.store.exists(key):
            return key
        async with self.slots.taken(org_id), self._locks.setdefault(key, asyncio.Lock()):
            if not await self.store.exists(key):  # built meanwhile by a request that held the lock
                await self._make(model_id, model.model_type, export_format, method, files, key)
        return key

    async def _make(
        self, model_id: str, model_type: str, export_format: ExportFormat, method: str, files: Any, key: str
    ) -> None:
        with tempfile.TemporaryDirectory(prefix="automl-export-") as work:
            folder = Path(work)
            await download_prefix(self.store, files.artifacts_prefix, folder / "artifacts")
            if method == "lora":
                await download_prefix(self.store, files.base_model_prefix, folder / "base")
            tar_path = folder / "out" / f"{model_id}.tar"
            tar_path.parent.mkdir()
            await build_apart(
                model_id, model_type, export_format, folder / "artifacts", folder / "base", tar_path, self.timeout_s
            )
            await upload_file(self.store, tar_path, key, content_type="application/x-tar")


def main(argv: list[str]) -> int:
    """``python -m trainer_svc.models.export MODEL_ID MODEL_TYPE FORMAT ARTIFACTS BASE TAR``: build one export."""
    model_id, model_type, export_format, artifacts, base, tar_path = argv
    if export_format not in get_args(ExportFormat):
        print(f"unknown format {export_format!r}", file=sys.stderr)
        return 2
    _build(model_id, model_type, export_format, Path(artifacts), Path(base), Path(tar_path))  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
