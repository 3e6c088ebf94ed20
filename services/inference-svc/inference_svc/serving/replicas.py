"""The Serve replicas: one model per platform deployment (batched), a base model's shared replicas (LoRA llm
adapters; last-layer classifiers' heads over one encoder), and one shared playground that keeps the recently
used models loaded (``@serve.multiplexed``). Plain classes; ``apps`` gives Serve their options."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ray import serve

from inference_svc.serving.batching import DynamicBatcher
from inference_svc.serving.loader import (
    ModelInput,
    ModelSource,
    Predictor,
    fetch_model_files,
    load_predictor,
)
from inference_svc.serving.torch_thread import TorchThread

if TYPE_CHECKING:
    from modelkit.model_types.llm.generation import OnText, Piece
    from modelkit.model_types.llm.predict import LLMPredictor

# How long a reply on a replica shared by several orgs generates, while others wait, before yielding to them.
GENERATION_SLICE_S = 0.5


# Models one playground replica keeps loaded; the least recently used is dropped for a new one. More models
# in use at once spread over more replicas (up to the playground's max replicas).
PLAYGROUND_MODELS_PER_REPLICA = 4


@dataclass(frozen=True)
class ReplicaResources:
    num_cpus: float
    num_gpus: float
    upscale_delay_s: float
    downscale_delay_s: float
    health_check_period_s: float
    torch_threads: int = 0
    generation_slice_s: float = GENERATION_SLICE_S  # on replicas shared by orgs

    @property
    def device(self) -> str:
        """Where a replica's model runs: Ray gives a replica that asks for a GPU its own (CUDA_VISIBLE_DEVICES
        holds it alone), so ``cuda`` is that one; a replica that asks for none stays on the CPU."""
        return "cuda" if self.num_gpus > 0 else "cpu"

    def actor_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus}
        if self.torch_threads > 0:
            # Ray sets OMP_NUM_THREADS from num_cpus (1 for a fraction of a CPU), and under OpenMP a forward pass
            # run from a worker thread follows that, not torch.set_num_threads (measured: half the speed).
            options["runtime_env"] = {"env_vars": {"OMP_NUM_THREADS": str(self.torch_threads)}}
        return options


@dataclass(frozen=True)
class BatchingConfig:
    max_batch_size: int
    batch_wait_timeout_s: float

    def user_config(self) -> dict[str, Any]:
        return {"max_batch_size": self.max_batch_size, "batch_wait_timeout_s": self.batch_wait_timeout_s}


class BatchedReplica:
    """One model that answers an input in one forward pass (a classifier, a detector); single inputs from
    concurrent requests are gathered into batches for one forward pass (``DynamicBatcher``: a batch forms when
    the model is free, from what arrived meanwhile)."""

    # Serve awaits async constructors.
    async def __init__(self, source: ModelSource, torch_threads: int, device: str) -> None:  # type: ignore[misc]
        self.thread = TorchThread(torch_threads)
        self.predictor = await load_predictor(source, self.thread, device)
        self.batching = BatchingConfig(max_batch_size=16, batch_wait_timeout_s=0.0)  # until reconfigure
        self.batcher: DynamicBatcher[ModelInput, dict[str, Any]] | None = None

    def reconfigure(self, config: dict[str, Any]) -> None:
        """Batching limits change without restarting the replica (``user_config``)."""
        self.batching = BatchingConfig(int(config["max_batch_size"]), float(config["batch_wait_timeout_s"]))
        if self.batcher is not None:
            self.batcher.configure(
                max_batch_size=self.batching.max_batch_size, batch_wait_timeout_s=self.batching.batch_wait_timeout_s
            )

    async def _forward(self, inputs: list[ModelInput]) -> list[dict[str, Any]]:
        # Off the event loop: it keeps taking requests (the next batch) during the forward pass.
        return await self.thread.run(self.predictor.predict, inputs)

    async def predict(self, inputs: Sequence[ModelInput]) -> list[dict[str, Any]]:
        if self.batcher is None:  # made on the loop that serves requests
            self.batcher = DynamicBatcher(
                self._forward,
                max_batch_size=self.batching.max_batch_size,
                batch_wait_timeout_s=self.batching.batch_wait_timeout_s,
            )
        return list(await asyncio.gather(*(self.batcher.submit(value) for value in inputs)))

    def check_health(self) -> None:
        if self.predictor is None:
            raise RuntimeError("no model loaded")


class LLMReplica:
    """One causal LM. Each request is generated alone (one forward pass per token on the torch thread, in the
    order the requests came); ``stream`` hands the reply over piece by piece as it is generated."""

    async def __init__(self, source: ModelSource, torch_threads: int, device: str) -> None:  # type: ignore[misc]
        from modelkit.model_types.llm.predict import LLMPredictor

        self.thread = TorchThread(torch_threads)
        model_dir, base_dir = await fetch_model_files(source)
        self.predictor: LLMPredictor = await self.thread.run(LLMPredictor.load, model_dir, base_dir, device)

    def reconfigure(self, config: dict[str, Any]) -> None:
        """Batching settings are a classifier's; a generator takes its requests one at a time."""

    async def predict(self, inputs: Sequence[ModelInput]) -> list[dict[str, Any]]:
        return await self.thread.run(self.predictor.predict, list(inputs))

    async def stream(self, request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """``{"delta": text}`` for each new piece of the reply, then the whole answer with ``"done": true``."""
        async for item in streamed(lambda emit, gone: self.thread.run(self.predictor.generate, request, emit, gone)):
            yield item

    def parity_prompts(self) -> list[dict[str, Any]]:
        """The held-out prompts and the replies the worker generated for them at the end of training."""
        return list(self.predictor.parity)

    def check_health(self) -> None:
        return None


class AdapterReplica:
    """Every LoRA llm model of one base model (the playground's): the base held once, each model's adapter
    loaded on its first request and kept among the most recently used (``AdapterPool``), waiting requests
    served grouped by adapter. Each request brings where its model's files are."""

    async def __init__(  # type: ignore[misc]
        self, base: ModelSource, torch_threads: int, max_adapters: int, device: str, slice_s: float
    ) -> None:
        from modelkit.model_types.llm.adapters import AdapterPool

        self.thread = TorchThread(torch_threads)
        _, base_dir = await fetch_model_files(base, base_only=True)
        assert base_dir is not None
        self.pool = await self.thread.run(AdapterPool, base_dir, max_adapters, device, slice_s)

    async def predict(self, source: ModelSource, inputs: Sequence[ModelInput]) -> list[dict[str, Any]]:
        model_dir, _ = await fetch_model_files(source)
        model_id = source.artifacts.model_id
        # The pool serves one request at a time and groups the waiting ones: each waits in a thread of its own.
        return [
            await asyncio.to_thread(self.pool.generate, model_id, model_dir, dict(value))  # type: ignore[arg-type]
            for value in inputs
        ]

    async def stream(self, source: ModelSource, request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """As ``LLMReplica.stream``, with the model's adapter."""
        model_dir, _ = await fetch_model_files(source)
        model_id = source.artifacts.model_id
        async for item in streamed(
            lambda emit, gone: asyncio.to_thread(self.pool.generate, model_id, model_dir, request, emit, gone)
        ):
            yield item

    async def parity_prompts(self, source: ModelSource) -> list[dict[str, Any]]:
        """The model's held-out prompts and the replies the worker generated for them."""
        model_dir, _ = await fetch_model_files(source)
        parity = model_dir / "parity.json"
        return list(json.loads(parity.read_text())) if parity.is_file() else []

    def check_health(self) -> None:
        return None


class SharedHeadsReplica:
    """Every last-layer classifier of one base model (the playground's): the encoder held once
    (``modelkit.shared_encoder``), each model's heads loaded on its first request into a least-recently-used set
    bounded by bytes. Inputs of any of its models are batched together (``DynamicBatcher``), embedded in one
    encoder pass and scored by each input's own model's heads. Each request brings where its model's files are."""

    async def __init__(  # type: ignore[misc]
        self, base: ModelSource, torch_threads: int, max_head_bytes: int, device: str
    ) -> None:
        from modelkit.shared_encoder import SharedEncoder

        self.thread = TorchThread(torch_threads)
        _, base_dir = await fetch_model_files(base, base_only=True)
        assert base_dir is not None
        self.folders: dict[str, Path] = {}  # model id -> its downloaded folder
        artifacts = base.artifacts
        self.shared = await self.thread.run(
            SharedEncoder, base_dir, artifacts.model_type, artifacts.base_model_sha256, self.folders.__getitem__,
            device, max_head_bytes,
        )  # fmt: skip
        self.batcher: DynamicBatcher[tuple[str, ModelInput], dict[str, Any]] | None = None

    async def _forward(self, items: list[tuple[str, ModelInput]]) -> list[dict[str, Any]]:
        return await self.thread.run(self.shared.predict, items)

    async def predict(self, source: ModelSource, inputs: Sequence[ModelInput]) -> list[dict[str, Any]]:
        model_id = source.artifacts.model_id
        if model_id not in self.folders:
            self.folders[model_id], _ = await fetch_model_files(source, heads_only=True)
        if model_id not in self.shared.models:  # a model that cannot load fails its own call, not a batch
            await self.thread.run(self.shared.load, model_id)
        if self.batcher is None:  # made on the loop that serves requests
            self.batcher = DynamicBatcher(self._forward, max_batch_size=64, batch_wait_timeout_s=0.0)
        return list(await asyncio.gather(*(self.batcher.submit((model_id, value)) for value in inputs)))

    def check_health(self) -> None:
        return None


async def streamed(
    start: Callable[[OnText, Callable[[], bool]], Awaitable[dict[str, Any]]],
) -> AsyncGenerator[dict[str, Any]]:
    """``{"delta": text, "usage": ...}`` for each piece ``start``'s generation emits (on its thread), with the
    tokens read and generated so far (what a stream cut there has cost), then its whole answer with
    ``"done": true``. If the reader goes away first (a dropped stream), the generation is told to stop
    (``start``'s second argument turns true) rather than run on, holding the model, for nobody."""
    loop = asyncio.get_running_loop()
    pieces: asyncio.Queue[Piece | None] = asyncio.Queue()
    gone = threading.Event()

    def emit(piece: Piece) -> None:  # on the generating thread
        loop.call_soon_threadsafe(pieces.put_nowait, piece)

    reply = asyncio.ensure_future(start(emit, gone.is_set))
    # Scheduled after every emit the thread made before finishing, so it comes out of the queue last.
    reply.add_done_callback(lambda _: pieces.put_nowait(None))
    try:
        while (piece := await pieces.get()) is not None:
            usage = {"prompt_tokens": piece.prompt_tokens, "completion_tokens": piece.completion_tokens}
            yield {"delta": piece.text, "usage": usage}
        yield {"done": True, **(await reply)}
    finally:
        gone.set()


def _llm_predictor(predictor: Predictor) -> LLMPredictor | None:
    from modelkit.model_types.llm.predict import LLMPredictor

    return predictor if isinstance(predictor, LLMPredictor) else None


class PlaygroundReplica:
    """Any succeeded model, loaded on first use and kept among the replica's most recently used ones."""

    def __init__(self, torch_threads: int, device: str, slice_s: float = GENERATION_SLICE_S) -> None:
        self._sources: dict[str, ModelSource] = {}
        self.thread = TorchThread(torch_threads)
        self.device = device
        self.slice_s = slice_s

    @serve.multiplexed(max_num_models_per_replica=PLAYGROUND_MODELS_PER_REPLICA)  # type: ignore[untyped-decorator]
    async def _model(self, model_id: str) -> Predictor:
        return await load_predictor(self._sources[model_id], self.thread, self.device)

    async def predict(self, source: ModelSource, inputs: Sequence[ModelInput]) -> list[dict[str, Any]]:
        model_id = serve.get_multiplexed_model_id()
        # The loader sees only the id; the request brings where the model's files are.
        self._sources[model_id] = source
        predictor = await self._model(model_id)
        generator = _llm_predictor(predictor)
        if generator is None:  # one forward pass: nothing to share the thread for
            return await self.thread.run(predictor.predict, list(inputs))
        return [await self._generated(generator, dict(request)) for request in inputs]  # type: ignore[arg-type]

    async def stream(self, source: ModelSource, request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """A whole llm model's reply piece by piece (as ``LLMReplica.stream``)."""
        model_id = serve.get_multiplexed_model_id()
        self._sources[model_id] = source
        generator = _llm_predictor(await self._model(model_id))
        if generator is None:
            raise TypeError(f"model {model_id!r} does not generate text")
        async for item in streamed(lambda emit, gone: self._generated(generator, request, emit, gone)):
            yield item

    async def _generated(
        self,
        predictor: LLMPredictor,
        request: dict[str, Any],
        on_text: OnText | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> dict[str, Any]:
        """A reply generated in slices on the replica's one torch thread, which every org's models share: once
        other calls wait for the thread, it yields to them after ``slice_s`` (then goes on, behind them)."""
        from modelkit.model_types.llm.predict import answer

        generation = await self.thread.run(predictor.begin, request, on_text, cancelled)
        while not await self.thread.run(generation.advance, predictor.model, self.thread.turn_over(self.slice_s)):
            pass
        return answer(generation.result())

    def check_health(self) -> None:
        return None
