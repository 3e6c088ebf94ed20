"""Small labelled images for image-model tests: flat colours with noise, learnable by a tiny random network.
Each colour's head label and its multi-label channels ("yellow" is red and green)."""

from __future__ import annotations

import io
import random

from PIL import Image

COLOURS: dict[str, tuple[tuple[int, int, int], list[str]]] = {
    "red": ((220, 30, 30), ["r"]),
    "green": ((30, 200, 40), ["g"]),
    "blue": ((30, 40, 220), ["b"]),
    "yellow": ((230, 220, 30), ["r", "g"]),
}


def colour_image(name: str, seed: int, size: int = 24, fmt: str = "PNG", mode: str = "RGB") -> bytes:
    rng = random.Random(seed)
    base, _ = COLOURS[name]
    image = Image.new("RGB", (size + rng.randint(0, 8), size))
    pixels = image.load()
    assert pixels is not None
    for x in range(image.width):
        for y in range(image.height):
            pixels[x, y] = tuple(max(0, min(255, c + rng.randint(-40, 40))) for c in base)
    if mode == "P":
        image = image.convert("P", palette=Image.Palette.ADAPTIVE)
    elif mode != "RGB":
        image = image.convert(mode)
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def labelled_images(count: int, seed: int = 0) -> list[tuple[str, bytes]]:
    """(colour, image bytes); a few are palette, RGBA or JPEG, as uploads are."""
    rng = random.Random(seed)
    names = sorted(COLOURS)
    out = []
    for position in range(count):
        name = names[position % len(names)]
        mode, fmt = rng.choice([("RGB", "PNG"), ("RGB", "PNG"), ("P", "PNG"), ("RGBA", "PNG"), ("RGB", "JPEG")])
        out.append((name, colour_image(name, seed * 100_000 + position, fmt=fmt, mode=mode)))
    return out
