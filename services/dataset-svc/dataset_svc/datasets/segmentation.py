"""Semantic-segmentation uploads: a zip with ``images/``, ``masks/`` (one-channel PNGs of the same size, pixel
value = class index, 255 = not scored) and ``labels.txt`` (line *i* is class *i*'s name), read as a table of
one row per image: ``{"image": "images/a.jpg", "mask": "masks/a.png", "classes": [names]}`` (JSON lines, for
the JSONL parser). An image and its mask pair by name without the extension. The names travel with each row so
a row is whole on its own; the snapshot checks every mask's size and values against its image and classes."""

from __future__ import annotations

import json
import posixpath
import zipfile
from collections.abc import Iterator

from dataset_svc.datasets.parsing import UploadFormatError

LABELS_FILE = "labels.txt"
IMAGES, MASKS = "images/", "masks/"
MAX_CLASSES = 255  # 255 is the "not scored" value, so class indexes are 0-254


def _stem(name: str, folder: str) -> str:
    return posixpath.splitext(name[name.index(folder) + len(folder) :])[0]


def labels_file(files: list[str]) -> str | None:
    """The layout's ``labels.txt`` (at the top or in one folder), if the zip has the layout's three parts."""
    labels = [name for name in files if posixpath.basename(name) == LABELS_FILE]
    if len(labels) != 1:
        return None
    root = posixpath.dirname(labels[0])
    prefix = f"{root}/" if root else ""
    has = {folder: any(name.startswith(prefix + folder) for name in files) for folder in (IMAGES, MASKS)}
    return labels[0] if all(has.values()) else None


def classes(archive: zipfile.ZipFile, name: str) -> list[str]:
    with archive.open(name) as member:
        text = member.read(1024 * 1024 + 1)
    if len(text) > 1024 * 1024:
        raise UploadFormatError(f"{name}: larger than 1 MiB")
    names = [line.strip() for line in text.decode("utf-8-sig", errors="replace").splitlines()]
    while names and not names[-1]:
        names.pop()
    if not names:
        raise UploadFormatError(f"{name}: no class names (line i names class i)")
    if len(names) > MAX_CLASSES:
        raise UploadFormatError(f"{name}: {len(names)} classes; at most {MAX_CLASSES} (255 marks unscored pixels)")
    for line, value in enumerate(names, start=1):
        if not value or len(value) > 200:
            raise UploadFormatError(f"{name}: line {line}: a class name is 1-200 characters")
    if len(set(names)) != len(names):
        raise UploadFormatError(f"{name}: a class name appears twice")
    return names


def lines(archive: zipfile.ZipFile, labels: str) -> Iterator[bytes]:
    """One row per image under ``images/`` (sorted by name), with its mask's path or null where none has its
    name."""
    names = classes(archive, labels)
    root = posixpath.dirname(labels)
    prefix = f"{root}/" if root else ""
    files = [info.filename for info in archive.infolist() if not info.is_dir() and "__MACOSX" not in info.filename]
    masks = {_stem(name, MASKS): name for name in files if name.startswith(prefix + MASKS)}
    for name in sorted(name for name in files if name.startswith(prefix + IMAGES)):
        mask = masks.get(_stem(name, IMAGES))
        yield json.dumps({"image": name, "mask": mask, "classes": names}).encode() + b"\n"
