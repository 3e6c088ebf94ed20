"""Many last-layer MiniLM-L6 models on one shared-encoder replica (``modelkit.shared_encoder``, what
``SharedHeadsReplica`` runs), in process on this CPU, in one run:

- memory: the process's resident memory with the encoder alone and with ``--models`` models' heads loaded,
  so the models one replica serves within 1 GB (target >= 1,000);
- the first predict of a model not yet loaded (its heads read from its folder), against today's cold start
  of the same model in the same run (``ClassifierPredictor.load``: the encoder loaded with it). Target < 20 ms;
- throughput with requests spread over 100 models, against the same requests to one model. Target >= 0.8x;
- then ``bench.serving_gateway``: predict p50 through the gateway against the predictor in process, Ray
  Serve's throughput-optimized mode off and on (``--modes``; ``--modes none`` skips it). Target <= +4 ms;
- then ``bench.retrain_embeddings``: retraining a head after editing 1% of the rows against the first training
  (``--retrain-rows``). Target <= 0.1x.

Each model has two heads (3 and 5 classes) of random weights, saved as the worker saves a last-layer model.
Run: `python -m bench.serving_scale [--models 1000]` (about 10 min).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

from bench import retrain_embeddings, serving_gateway
from bench.train_text import minilm_dir
from deploy.local.sms_spam import rows as sms_rows
from modelkit import artifacts, model_types
from modelkit.classifier import ClassifierSpec, HeadConfig
from modelkit.model_types.text_classification import TextPreprocessor, load_tokenizer
from modelkit.predict import ClassifierPredictor
from modelkit.shared_encoder import SharedEncoder

BASE_SHA = "minilm-l6"
GIB = 1024**3


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def save_models(base: Path, root: Path, count: int) -> list[Path]:
    """``count`` last-layer models: the first saved whole (its tokenizer too), the others its files with heads
    of their own (the tokenizer files linked: the same bytes)."""
    text = model_types.classifier("text_classification")
    heads = [HeadConfig("policy", ["allow", "review", "remove"]), HeadConfig("topic", [f"t{i}" for i in range(5)])]
    model = text.classifier(text.load_encoder(base), ClassifierSpec(heads, text.encoder_config(base)))
    manifest = artifacts.ArtifactManifest("last_layer", "minilm-l6", BASE_SHA, model.spec)
    first = root / "model-0"
    artifacts.save(model, manifest, TextPreprocessor(load_tokenizer(base), 128), first)
    folders = [first]
    for index in range(1, count):
        folder = root / f"model-{index}"
        folder.mkdir()
        for item in first.iterdir():
            if item.name != "heads.safetensors":
                (folder / item.name).symlink_to(item)
        torch.manual_seed(index)
        with torch.no_grad():
            for layer in model.heads:
                for parameter in layer.parameters():
                    parameter.normal_(0, 0.1)
        save_file(artifacts.head_state(model), str(folder / "heads.safetensors"))
        folders.append(folder)
    return folders


def throughput(shared: SharedEncoder, keys: list[str], texts: list[str], batch: int) -> float:
    """Inputs per second over ``texts`` in batches, the i-th input for ``keys[i % len(keys)]``."""
    requests = [(keys[index % len(keys)], text) for index, text in enumerate(texts)]
    started = time.perf_counter()
    for start in range(0, len(requests), batch):
        shared.predict(requests[start : start + batch])
    return len(requests) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--first-calls", type=int, default=20)
    parser.add_argument("--requests", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--modes", default="off,on", help="RAY_SERVE_THROUGHPUT_OPTIMIZED modes to run; none")
    parser.add_argument("--gateway-rows", type=int, default=1000, help="messages the gateway's model trains on")
    parser.add_argument("--gateway-requests", type=int, default=500)
    parser.add_argument("--retrain-rows", type=int, default=5000)
    args = parser.parse_args()
    in_process(args)
    modes = [mode == "on" for mode in args.modes.split(",") if mode in ("off", "on")]
    if modes:
        figures = [serving_gateway.measure(mode, args.gateway_rows, args.gateway_requests) for mode in modes]
        serving_gateway.report(figures)
    retrain_embeddings.measure(args.retrain_rows, 1.0)


def in_process(args: argparse.Namespace) -> None:
    torch.set_num_threads(2)
    texts = [text for _, text in sms_rows()[: args.requests]]
    with tempfile.TemporaryDirectory(prefix="bench-serving-scale-") as work:
        base = minilm_dir(Path(work))
        folders = save_models(base, Path(work) / "models", args.models + args.first_calls)
        by_key = {folder.name: folder for folder in folders}
        shared = SharedEncoder(base, "text_classification", BASE_SHA, by_key.__getitem__, max_head_bytes=GIB)
        shared.predict([("model-0", texts[0])])  # the encoder and the tokenizer warmed
        encoder_only = rss_bytes()
        keys = [folder.name for folder in folders[: args.models]]
        for key in keys:
            shared.load(key)
        loaded = rss_bytes()
        per_model = max(loaded - encoder_only, 1) / (len(keys) - 1)
        within = int((GIB - encoder_only) / per_model)

        first_ms = []
        for key in [folder.name for folder in folders[args.models :]]:
            started = time.perf_counter()
            shared.predict([(key, texts[1])])
            first_ms.append((time.perf_counter() - started) * 1000)
        warm_ms = []
        for _ in range(args.first_calls):
            started = time.perf_counter()
            shared.predict([(keys[-1], texts[1])])
            warm_ms.append((time.perf_counter() - started) * 1000)
        cold_ms = []
        for folder in folders[args.models : args.models + 3]:
            started = time.perf_counter()
            ClassifierPredictor.load(folder, base).predict([texts[1]])
            cold_ms.append((time.perf_counter() - started) * 1000)

        spread = throughput(shared, keys[:100], texts, args.batch)
        single = throughput(shared, keys[:1], texts, args.batch)

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        f"memory: encoder alone {encoder_only / 2**20:.0f} MiB resident; with {len(keys)} models' heads "
        f"{loaded / 2**20:.0f} MiB ({per_model / 1024:.1f} KiB a model; peak {peak / 2**20:.0f} MiB)"
    )
    print(f"models one replica serves within 1 GB: {within:,} (target >= 1,000)")
    print(
        f"first predict of a model not loaded: p50 {statistics.median(first_ms):.2f} ms "
        f"(warm {statistics.median(warm_ms):.2f} ms); cold start of the same model whole: "
        f"{statistics.median(cold_ms):.0f} ms; ratio {statistics.median(first_ms) / statistics.median(cold_ms):.4f} "
        f"(target < 20 ms)"
    )
    print(
        f"throughput over 100 models {spread:.1f} inputs/s, over one model {single:.1f} inputs/s: "
        f"ratio {spread / single:.2f} (target >= 0.8)"
    )


if __name__ == "__main__":
    main()
