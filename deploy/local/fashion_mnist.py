"""Fashion-MNIST from Debian's `dataset-fashion-mnist` (installed by `make datasets`), for the image demo and
bench/train_image: the IDX files read with numpy, each image as the PNG a user would upload."""

from __future__ import annotations

import csv
import gzip
import io
import zipfile
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

ROOT = Path("/usr/share/datasets/fashion-mnist")
CLASSES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]


class FashionMnistMissing(Exception):
    pass


def read_idx(name: str) -> NDArray[np.uint8]:
    path = ROOT / name
    if not path.is_file():
        raise FashionMnistMissing(f"{path} is missing: `make datasets` installs Debian's dataset-fashion-mnist")
    with gzip.open(path) as handle:
        data = handle.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def png(pixels: NDArray[np.uint8]) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(out, "PNG")
    return out.getvalue()


def images(split: str, count: int) -> tuple[list[bytes], NDArray[np.int64]]:
    """The first ``count`` images of ``split`` ("train" or "t10k") as PNGs, and their class indexes."""
    pixels = read_idx(f"{split}-images-idx3-ubyte.gz")[:count]
    labels = read_idx(f"{split}-labels-idx1-ubyte.gz")[:count].astype(np.int64)
    return [png(image) for image in pixels], labels


def write_zip(target: Path, count: int) -> Path:
    """A zip as a user would upload it: ``labels.csv`` (image path, class name) and the PNGs it names."""
    pictures, labels = images("train", count)
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(["image", "label"])
    with zipfile.ZipFile(target, "w") as archive:
        for position, (data, label) in enumerate(zip(pictures, labels, strict=True)):
            name = f"images/{position:05d}.png"
            archive.writestr(name, data)
            writer.writerow([name, CLASSES[label]])
        archive.writestr("labels.csv", table.getvalue())
    return target
