"""Small object-detection images for tests: grey canvases with red squares and blue bars at known places, and
the zips a user uploads for them (a COCO annotation file, or a CSV of one box per row)."""

from __future__ import annotations

import io
import json
import random
import zipfile
from dataclasses import dataclass

from PIL import Image, ImageDraw

SHAPES = {"square": (220, 40, 40), "bar": (40, 60, 220)}


@dataclass(frozen=True)
class Scene:
    name: str  # its file name in the zip
    width: int
    height: int
    boxes: list[tuple[str, tuple[int, int, int, int]]]  # (label, [x_min, y_min, x_max, y_max])

    def png(self, seed: int = 0) -> bytes:
        rng = random.Random(seed)
        image = Image.new("RGB", (self.width, self.height), (128 + rng.randint(-20, 20),) * 3)
        draw = ImageDraw.Draw(image)
        for label, (x_min, y_min, x_max, y_max) in self.boxes:
            draw.rectangle((x_min, y_min, x_max - 1, y_max - 1), fill=SHAPES[label])
        output = io.BytesIO()
        image.save(output, format="PNG")
        return output.getvalue()


def scenes(count: int, size: int = 64, seed: int = 0, empty_every: int = 0) -> list[Scene]:
    """``count`` canvases with one or two objects each (every ``empty_every``-th with none)."""
    rng = random.Random(seed)
    made = []
    for index in range(count):
        boxes: list[tuple[str, tuple[int, int, int, int]]] = []
        if not (empty_every and index % empty_every == empty_every - 1):
            for _ in range(rng.randint(1, 2)):
                label = rng.choice(sorted(SHAPES))
                width, height = (rng.randint(12, 22),) * 2 if label == "square" else (rng.randint(22, 30), 8)
                x, y = rng.randint(0, size - width), rng.randint(0, size - height)
                boxes.append((label, (x, y, x + width, y + height)))
        made.append(Scene(f"images/{index}.png", size, size, boxes))
    return made


def coco_document(made: list[Scene], extra_annotations: list[dict[str, object]] | None = None) -> dict[str, object]:
    categories = {name: position + 1 for position, name in enumerate(sorted(SHAPES))}
    annotations: list[dict[str, object]] = []
    for image_id, scene in enumerate(made, start=1):
        for label, (x_min, y_min, x_max, y_max) in scene.boxes:
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": categories[label],
                    "bbox": [x_min, y_min, x_max - x_min, y_max - y_min],
                    "area": (x_max - x_min) * (y_max - y_min),
                    "iscrowd": 0,
                }
            )
    return {
        "images": [
            {"id": image_id, "file_name": scene.name, "width": scene.width, "height": scene.height}
            for image_id, scene in enumerate(made, start=1)
        ],
        "annotations": annotations + list(extra_annotations or []),
        "categories": [{"id": number, "name": name} for name, number in categories.items()],
    }


def coco_zip(made: list[Scene], extra_annotations: list[dict[str, object]] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("annotations.json", json.dumps(coco_document(made, extra_annotations)))
        for index, scene in enumerate(made):
            archive.writestr(scene.name, scene.png(index))
    return buffer.getvalue()


def box_csv_zip(made: list[Scene], extra_lines: list[str] | None = None) -> bytes:
    lines = ["image,label,x_min,y_min,x_max,y_max"]
    for scene in made:
        if not scene.boxes:
            lines.append(f"{scene.name},,,,,")
        for label, (x_min, y_min, x_max, y_max) in scene.boxes:
            lines.append(f"{scene.name},{label},{x_min},{y_min},{x_max},{y_max}")
    lines += extra_lines or []
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("boxes.csv", "\n".join(lines) + "\n")
        for index, scene in enumerate(made):
            archive.writestr(scene.name, scene.png(index))
    return buffer.getvalue()
