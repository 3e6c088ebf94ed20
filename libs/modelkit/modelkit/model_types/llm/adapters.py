"""Many LoRA models of one base model on one replica: the base is held once, each model's adapter is loaded on
its first request (peft, by the model's id) and kept among the ``max_adapters`` most recently used; the least
recently used one is unloaded for a new one. Waiting requests are served grouped by adapter (the adapter of
the oldest waiting request first, then every other request waiting for it), so a switch of adapter happens
once per group, not per request. A reply is generated in slices (``Generation``): once others wait, the one
generating pauses after ``slice_s`` and goes to the back of the queue, so one tenant's long reply delays
another's short one by a slice, not by its whole length.

Each adapter's tokenizer fingerprint is checked against the base's on load: every model on the replica must
have been trained with the template and tokenizer the replica serves with."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from peft import PeftModel

from modelkit.model_types.llm import ArtifactMismatch, LLMManifest, load_model, load_tokenizer
from modelkit.model_types.llm.chat import Fingerprint
from modelkit.model_types.llm.generation import Generation, OnText, prompt_messages
from modelkit.model_types.llm.predict import answer, params_of


class GenerationCancelled(Exception):
    """A request whose caller went away before its turn came."""


@dataclass
class _Waiting:
    adapter: str
    directory: Path
    request: dict[str, Any]
    on_text: OnText | None
    cancelled: Callable[[], bool] | None = None
    generation: Generation | None = None  # once begun
    done: threading.Event = field(default_factory=threading.Event)
    result: dict[str, Any] | None = None
    error: BaseException | None = None


# How long a reply generates while others wait before it yields the model to them.
SLICE_S = 0.5


class AdapterPool:
    def __init__(self, base_dir: Path, max_adapters: int = 8, device: str = "cpu", slice_s: float = SLICE_S) -> None:
        if max_adapters < 1:
            raise ValueError("max_adapters must be at least 1")
        self.tokenizer = load_tokenizer(base_dir)
        self.fingerprint = Fingerprint.of(self.tokenizer)
        # peft puts each adapter loaded later on the device of the layer it adapts
        self.base: torch.nn.Module = load_model(base_dir, device)
        self.base.train(False)
        self.max_adapters = max_adapters
        self.model: PeftModel | None = None  # made with the first adapter
        self.loaded: OrderedDict[str, Path] = OrderedDict()  # adapter name -> its folder, oldest use first
        self.switches = 0  # times the active adapter changed (what grouping saves)
        self.slice_s = slice_s
        self.pauses = 0  # times a reply yielded the model to others waiting
        self._active: str | None = None
        self._waiting: list[_Waiting] = []
        self._group: list[_Waiting] = []  # taken from the waiting, for the adapter being served
        self._lock = threading.Lock()  # the waiting list
        self._serving = threading.Lock()  # one generation at a time on this model

    # -- adapters --------------------------------------------------------------------------------------------
    def _load(self, name: str, directory: Path) -> None:
        if name in self.loaded:  # checked when it was loaded
            self.loaded.move_to_end(name)
            return
        manifest = LLMManifest.read(directory)
        if manifest.method != "lora":
            raise ArtifactMismatch(f"model {name}: a {manifest.method} model has no adapter to share a base with")
        differences = Fingerprint(**manifest.fingerprint).differences(self.fingerprint)
        if differences:
            raise ArtifactMismatch(f"model {name} was trained with another tokenizer: {'; '.join(differences)}")
        while len(self.loaded) >= self.max_adapters:
            oldest, _ = self.loaded.popitem(last=False)
            assert self.model is not None
            if self._active == oldest:
                self._active = None
            self.model.delete_adapter(oldest)
        if self.model is None:
            self.model = PeftModel.from_pretrained(self.base, str(directory / "adapter"), adapter_name=name)
            self.model.eval()
        else:
            self.model.load_adapter(str(directory / "adapter"), adapter_name=name)
        self.loaded[name] = directory

    def _activate(self, name: str) -> PeftModel:
        assert self.model is not None
        if self._active != name:
            self.model.set_adapter(name)
            self._active = name
            self.switches += 1
        self.loaded.move_to_end(name)
        return self.model

    # -- requests ----------------------------------------------------------------------------------------------
    def generate(
        self,
        name: str,
        directory: Path,
        request: dict[str, Any],
        on_text: OnText | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> dict[str, Any]:
        """The reply of model ``name`` (its artifacts in ``directory``); blocks until served. Called from any
        number of threads: whichever holds the model serves every waiting request, grouped by adapter. A
        request ``cancelled`` while it waits is never generated; while it generates, it stops there."""
        mine = _Waiting(name, directory, request, on_text, cancelled)
        with self._lock:
            self._waiting.append(mine)
        while not mine.done.is_set():
            # Whoever gets the model serves, one slice at a time, until its own reply is done; meanwhile the
            # others wait for theirs (served by it, or by themselves once it has gone).
            if self._serving.acquire(blocking=False):
                try:
                    while not mine.done.is_set() and (item := self._take()) is not None:
                        self._serve(item)
                finally:
                    self._serving.release()
            else:
                mine.done.wait(0.01)
        if mine.error is not None:
            raise mine.error
        assert mine.result is not None
        return mine.result

    def _take(self) -> _Waiting | None:
        """The next request to serve a slice of: from the group being served (every request that waited for
        one adapter when the group began), else a new group, of the oldest waiting request's adapter."""
        with self._lock:
            if not self._group and self._waiting:
                adapter = self._waiting[0].adapter
                self._group = [item for item in self._waiting if item.adapter == adapter]
                self._waiting = [item for item in self._waiting if item.adapter != adapter]
            return self._group.pop(0) if self._group else None

    def _others_waiting(self, until: float) -> Callable[[], bool]:
        """Whether the reply generating should yield: someone waits, and its slice (to ``until``) is over."""
        return lambda: bool(self._waiting or self._group) and time.monotonic() >= until

    def _serve(self, item: _Waiting) -> None:
        """A slice of ``item``'s reply: to its end, or until others have waited its slice (then it waits again,
        behind them)."""
        try:
            if item.generation is None and item.cancelled is not None and item.cancelled():
                raise GenerationCancelled("the caller went away before the reply began")
            self._load(item.adapter, item.directory)
            model = self._activate(item.adapter)
            if item.generation is None:
                messages = prompt_messages(item.request.get("prompt"), item.request.get("messages"))
                params = params_of(item.request)
                item.generation = Generation(model, self.tokenizer, messages, params, item.on_text, item.cancelled)
            if not item.generation.advance(model, self._others_waiting(time.monotonic() + self.slice_s)):
                self.pauses += 1
                with self._lock:
                    self._waiting.append(item)
                return
            item.result = answer(item.generation.result())
        except Exception as error:  # the caller's error, raised in its own thread
            item.error = error
        item.done.set()
