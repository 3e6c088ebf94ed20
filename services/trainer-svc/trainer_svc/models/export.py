"""A succeeded llm model as files plain ``transformers`` loads: ``merged`` (a LoRA adapter folded into its base
model's weights, or a full fine-tune's weights; safetensors with the tokenizer and its chat template) or
``adapter`` (a LoRA model's peft adapter and tokenizer, to load over the base model). Built once per model and
format in a worker thread, kept in the store beside the model's artifacts (deleted with the model), and
streamed as an uncompressed tar of one folder named after the model."""

from __future__ import annotations

import asyncio
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from automl_common.errors import InvalidRequest
from automl_common.storage import ObjectStore, download_prefix, upload_file
from modelkit import tasks
from trainer_svc.models.service import ModelNotFinished, artifacts_of, get_model_row

ExportFormat = Literal["merged", "adapter"]


def _build(model_id: str, export_format: ExportFormat, artifacts: Path, base: Path, tar_path: Path) -> None:
    folder = tar_path.parent / model_id
    llm = tasks.causal_lm("llm")
    if export_format == "merged":
        model, tokenizer, _ = llm.load(artifacts, base, merge=True)
        model.save_pretrained(str(folder))  # type: ignore[operator]
        tokenizer.save_pretrained(str(folder))
    else:
        shutil.copytree(artifacts / "adapter", folder)
        shutil.copytree(artifacts / "tokenizer", folder, dirs_exist_ok=True)
    with tarfile.open(tar_path, "w") as archive:
        archive.add(folder, arcname=model_id)


class Exporter:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self._locks: dict[str, asyncio.Lock] = {}

    async def export(self, session: AsyncSession, org_id: str, model_id: str, export_format: ExportFormat) -> str:
        """The store key of the model's export in ``export_format``, built on the first call."""
        model = await get_model_row(session, org_id, model_id)
        method = model.method
        if model.status != "succeeded":
            raise ModelNotFinished(f"model {model_id!r} is {model.status}; it can be exported once it has succeeded")
        if tasks.info(model.model_type).family != "causal_lm":
            raise InvalidRequest(f"format: exports are of llm models; model {model_id!r} is a {model.model_type}")
        if export_format == "adapter" and model.method != "lora":
            raise InvalidRequest(f"format: adapter is for LoRA models; model {model_id!r} was trained {model.method}")
        key = f"{model.output_prefix}exports/{export_format}.tar"
        files = await artifacts_of(session, org_id, model_id)
        # No transaction is held while the export is built (it can take minutes).
        await session.commit()
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if await self.store.exists(key):
                return key
            with tempfile.TemporaryDirectory(prefix="automl-export-") as work:
                folder = Path(work)
                await download_prefix(self.store, files.artifacts_prefix, folder / "artifacts")
                if method == "lora":
                    await download_prefix(self.store, files.base_model_prefix, folder / "base")
                tar_path = folder / "out" / f"{model_id}.tar"
                tar_path.parent.mkdir()
                await asyncio.to_thread(
                    _build, model_id, export_format, folder / "artifacts", folder / "base", tar_path
                )
                await upload_file(self.store, tar_path, key, content_type="application/x-tar")
        return key
