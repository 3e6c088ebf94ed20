"""Small segmentation images for tests: the detection scenes' squares and bars, with a mask whose pixel is
the shape's class index (0 the background), and the zip a user uploads for them (images/, masks/, labels.txt)."""

from __future__ import annotations

import io
import zipfile

import numpy as np
from PIL import Image

from tests.support.detection import Scene, scenes

LABELS = ["background", "bar", "square"]


def mask_of(scene: Scene, *, ignore_border: bool = False) -> np.ndarray:
    mask = np.zeros((scene.height, scene.width), dtype=np.uint8)
    for label, (x_min, y_min, x_max, y_max) in scene.boxes:
        mask[y_min:y_max, x_min:x_max] = LABELS.index(label)
        if ignore_border:  # a one-pixel unscored outline, as annotation tools draw
            mask[y_min, x_min:x_max] = 255
    return mask


def png(pixels: np.ndarray, mode: str = "L") -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels, mode=mode).save(out, "PNG")
    return out.getvalue()


def segmentation_zip(
    made: list[Scene], *, labels: list[str] | None = None, masks: dict[str, bytes] | None = None, root: str = ""
) -> bytes:
    """``images/<n>.png`` and ``masks/<n>.png`` for each scene (``masks`` replaces some by name), and
    ``labels.txt``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"{root}labels.txt", "\n".join(labels or LABELS) + "\n")
        for index, scene in enumerate(made):
            name = f"{index}.png"
            archive.writestr(f"{root}images/{name}", scene.png(index))
            archive.writestr(f"{root}masks/{name}", (masks or {}).get(name) or png(mask_of(scene, ignore_border=True)))
    return buffer.getvalue()


__all__ = ["LABELS", "mask_of", "png", "scenes", "segmentation_zip"]
