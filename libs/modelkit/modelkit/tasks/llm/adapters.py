"""Many LoRA models of one base model on one replica: the base is held once, each model's adapter is loaded on
its first request (peft, by the model's id) and kept among the ``max_adapters`` most recently used; the least
recently used one is unloaded for a new one. Waiting requests are served grouped by adapter (the adapter of
the oldest waiting request first, then every other request waiting for it), so a switch of adapter happens
once per group, not per request.

Each adapter's tokenizer fingerprint is checked against the base's on load: every model on the replica must
have been trained with the template and tokenizer the replica serves with."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from peft import PeftModel

from modelkit.tasks.llm import ArtifactMismatch, LLMManifest, load_model, load_tokenizer
from modelkit.tasks.llm.chat import Fingerprint
from modelkit.tasks.llm.generation import OnText, generate, prompt_messages
from modelkit.tasks.llm.predict import answer, params_of


class GenerationCancelled(Exception):
    """A request whose caller went away before its turn came."""


@dataclass
class _Waiting:
    adapter: str
    directory: Path
    request: dict[str, Any]
    on_text: OnText | None
    cancelled: Callable[[], bool] | None = None
    done: threading.Event = field(default_factory=threading.Event)
    result: dict[str, Any] | None = None
    error: BaseException | None = None


class AdapterPool:
    def __init__(self, base_dir: Path, max_adapters: int = 8, device: str = "cpu") -> None:
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
        self._active: str | None = None
        self._waiting: list[_Waiting] = []
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
            with self._serving:
                self._serve_waiting()
        if mine.error is not None:
            raise mine.error
        assert mine.result is not None
        return mine.result

    def _next_group(self) -> list[_Waiting]:
        with self._lock:
            if not self._waiting:
                return []
            adapter = self._waiting[0].adapter
            group = [item for item in self._waiting if item.adapter == adapter]
            self._waiting = [item for item in self._waiting if item.adapter != adapter]
            return group

    @torch.no_grad()
    def _serve_waiting(self) -> None:
        while group := self._next_group():
            for item in group:
                try:
                    if item.cancelled is not None and item.cancelled():
                        raise GenerationCancelled("the caller went away before the reply began")
                    self._load(item.adapter, item.directory)
                    model = self._activate(item.adapter)
                    messages = prompt_messages(item.request.get("prompt"), item.request.get("messages"))
                    params = params_of(item.request)
                    generated = generate(model, self.tokenizer, messages, params, item.on_text, item.cancelled)
                    item.result = answer(generated)
                except Exception as error:  # the caller's error, raised in its own thread
                    item.error = error
                finally:
                    item.done.set()
