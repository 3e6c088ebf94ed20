"""The colour of each class index wherever a segmentation mask is drawn (the dataset's mask previews, the
worker's test images, the console's overlays), so that one class looks the same everywhere. Index 0, usually
the background, is black (left uncoloured in overlays); the colours repeat after ``len(CLASS_COLOURS)``."""

from __future__ import annotations

CLASS_COLOURS: tuple[tuple[int, int, int], ...] = (
    (0, 0, 0), (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (220, 190, 255),
    (170, 110, 40), (255, 250, 200), (128, 0, 0), (170, 255, 195), (128, 128, 0), (255, 215, 180), (0, 0, 128),
)  # fmt: skip
UNSCORED = 255  # a mask pixel with this value is not scored: drawn white


def colour(index: int) -> tuple[int, int, int]:
    if index == UNSCORED:
        return (255, 255, 255)
    return CLASS_COLOURS[index % len(CLASS_COLOURS)]


def palette() -> list[int]:
    """The 256-entry palette (flattened RGB) a mask is drawn with as a palette image."""
    return [channel for index in range(256) for channel in colour(index)]


def hex_colour(index: int) -> str:
    return "#{:02x}{:02x}{:02x}".format(*colour(index))
