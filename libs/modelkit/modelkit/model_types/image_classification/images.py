"""Decoding images the same way for training and serving, with PIL and numpy only (inference-svc checks
inputs with it without loading torch): EXIF orientation applied, greyscale / RGBA / palette / CMYK converted
to RGB (transparency over white), the shorter side resized to ``size / CROP_FRACTION``, then the centre crop
of ``size`` pixels, as (3, size, size) uint8."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

CROP_FRACTION = 0.875  # 224 of 256, as ImageNet models were evaluated
DEFAULT_MAX_PIXELS = 40_000_000


class ImageError(ValueError):
    """Not an image, or one over the limits: the reason, for the input it came from."""


def open_image(raw: bytes | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """The image, checked: decodable, and no more pixels than ``max_pixels`` (checked before decoding)."""
    source = io.BytesIO(raw) if isinstance(raw, bytes) else raw
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(source)
            width, height = image.size
            if width * height > max_pixels:
                raise ImageError(f"{width}x{height} pixels; at most {max_pixels:,} pixels")
            image.load()
    except ImageError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"not an image this service can read: {e}") from e
    except (OSError, ValueError, SyntaxError) as e:  # truncated or corrupt data
        raise ImageError(f"a broken image: {e}") from e
    return image


def to_rgb(image: Image.Image) -> Image.Image:
    image = ImageOps.exif_transpose(image) or image
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A"))
        return background
    return image.convert("RGB")


def decode(raw: bytes | Path, size: int, max_pixels: int = DEFAULT_MAX_PIXELS) -> NDArray[np.uint8]:
    image = to_rgb(open_image(raw, max_pixels))
    width, height = image.size
    scale = size / CROP_FRACTION / min(width, height)
    resized = (max(size, round(width * scale)), max(size, round(height * scale)))
    image = image.resize(resized, Image.Resampling.BILINEAR, reducing_gap=3.0)
    left, top = (resized[0] - size) // 2, (resized[1] - size) // 2
    image = image.crop((left, top, left + size, top + size))
    return np.asarray(image, dtype=np.uint8).transpose(2, 0, 1).copy()


def thumbnail_jpeg(pixels: NDArray[np.uint8], size: int = 96) -> bytes:
    """A small JPEG of decoded pixels (for the metrics' hardest examples)."""
    image = Image.fromarray(pixels.transpose(1, 2, 0))
    image.thumbnail((size, size))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()
