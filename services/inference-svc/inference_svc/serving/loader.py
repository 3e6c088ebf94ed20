"""A model's files from the object store into a replica's local cache, then a predictor over them.

Models are cached by id and base models by content hash, so replicas on one host share one copy; each folder
appears whole or not at all (``download_prefix``), so replicas starting together cannot read half a copy."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from automl_common.storage import ScopedStore, StoreConfig, StoreScope, create_store, download_prefix
from automl_proto.inference import ModelArtifacts
from inference_svc.serving.torch_thread import TorchThread

# What a replica is given per input: a text, an image's bytes, or a generation request (an llm's prompt or
# messages with its parameters, as JSON); each checked by inference-svc before.
ModelInput = str | bytes | dict[str, Any]


class Predictor(Protocol):
    def predict(self, raw: Sequence[ModelInput]) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class ModelSource:
    """Everything a replica needs to find and load one model, and nothing more: the store's address and
    credentials (no internal token, no database), used only for this model's files."""

    artifacts: ModelArtifacts
    store: StoreConfig
    cache_dir: Path

    @property
    def scope(self) -> StoreScope:
        return StoreScope.of(
            read=(_as_prefix(self.artifacts.artifacts_prefix), _as_prefix(self.artifacts.base_model_prefix))
        )


def _as_prefix(prefix: str) -> str:
    return prefix if prefix.endswith("/") else prefix + "/"


async def fetch_model_files(
    source: ModelSource, *, base_only: bool = False, heads_only: bool = False
) -> tuple[Path, Path | None]:
    """The model's folder and (unless a full fine-tune) its base model's folder, downloaded once; with
    ``base_only``, the base model's alone; with ``heads_only``, the model's alone (a replica that holds the
    base already)."""
    artifacts = source.artifacts
    model_dir = source.cache_dir / "models" / artifacts.model_id
    base_dir = source.cache_dir / "base-models" / artifacts.base_model_sha256
    wanted = [] if base_only else [(artifacts.artifacts_prefix, model_dir)]
    if (artifacts.method != "full" or base_only) and not heads_only:
        wanted.append((artifacts.base_model_prefix, base_dir))
    missing = [(prefix, directory) for prefix, directory in wanted if not directory.is_dir()]
    if missing:
        store = ScopedStore(await create_store(source.store), source.scope)
        try:
            for prefix, directory in missing:
                directory.parent.mkdir(parents=True, exist_ok=True)
                if await download_prefix(store, prefix, directory) == 0:
                    raise FileNotFoundError(f"no files under {prefix!r} in the object store")
        finally:
            await store.close()
    return model_dir, base_dir if artifacts.method != "full" or base_only else None


async def load_predictor(source: ModelSource, thread: TorchThread, device: str = "cpu") -> Predictor:
    """The predictor of the model's family (the registry's ``family``) on ``device``: scores from a
    classifier, replies from a causal LM, boxes from a detector, masks from a segmenter."""
    from modelkit import model_types
    from modelkit.model_types.llm.predict import LLMPredictor
    from modelkit.model_types.object_detection.predict import DetectorPredictor
    from modelkit.model_types.semantic_segmentation.predict import SegmenterPredictor
    from modelkit.predict import ClassifierPredictor

    predictors: dict[model_types.Family, Callable[[Path, Path | None, str], Predictor]] = {
        "classifier": ClassifierPredictor.load,
        "llm": LLMPredictor.load,
        "detector": DetectorPredictor.load,
        "segmenter": SegmenterPredictor.load,
    }
    load = predictors[model_types.info(source.artifacts.model_type).family]
    model_dir, base_dir = await fetch_model_files(source)
    return await thread.run(load, model_dir, base_dir, device)
