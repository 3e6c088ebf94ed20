"""Is it an image? The type is read from the bytes (never trusted from a header or an extension), then
Pillow decodes it in full; the pixel count is checked before decoding so a decompression bomb is refused."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from automl_common import palette

_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)


class ImageError(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class ImageInfo:
    content_type: str
    width: int
    height: int
    histogram: dict[str, int] | None = None  # a one-channel image's pixels per value


def sniff_content_type(data: bytes) -> str | None:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    for signature, content_type in _SIGNATURES:
        if data.startswith(signature):
            return content_type
    return None


def inspect_image(data: bytes, *, max_pixels: int) -> ImageInfo:
    content_type = sniff_content_type(data)
    if content_type is None:
        raise ImageError("not_an_image", "the bytes are not a JPEG, PNG, GIF, WebP or BMP image")
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise ImageError("too_large", f"{width}x{height} pixels is over the limit of {max_pixels}")
            image.load()
            histogram = _histogram(image)
    except ImageError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise ImageError("not_an_image", f"the image cannot be decoded: {error}"[:300]) from error
    return ImageInfo(content_type, width, height, histogram)


def _histogram(image: Image.Image) -> dict[str, int] | None:
    """A grey or palette image's pixels per value (a mask's per class index); None for other modes."""
    if image.mode not in ("L", "P"):
        return None
    return {str(value): count for value, count in enumerate(image.histogram()[:256]) if count}


def make_thumbnail(data: bytes, size: int, *, mask: bool = False) -> tuple[bytes, str]:
    """A preview of at most ``size`` pixels a side; a mask's (one channel, values class indexes) in the class
    colours (``automl_common.palette``), resized without blending classes."""
    if mask:
        return _mask_thumbnail(data, size)
    with Image.open(io.BytesIO(data)) as image:
        image.thumbnail((size, size))
        has_alpha = image.mode in ("RGBA", "LA", "P")
        output = io.BytesIO()
        if has_alpha:
            image.convert("RGBA").save(output, format="PNG", optimize=True)
            return output.getvalue(), "image/png"
        image.convert("RGB").save(output, format="JPEG", quality=85)
        return output.getvalue(), "image/jpeg"


def _mask_thumbnail(data: bytes, size: int) -> tuple[bytes, str]:
    with Image.open(io.BytesIO(data)) as image:
        if image.mode not in ("L", "P"):
            return make_thumbnail(data, size)  # not a mask after all: shown as the image it is
        image.thumbnail((size, size), resample=Image.Resampling.NEAREST)
        indexed = Image.frombytes("P", image.size, image.tobytes())  # one byte per pixel: the class index
        indexed.putpalette(palette.palette())
        output = io.BytesIO()
        indexed.save(output, format="PNG", optimize=True)
        return output.getvalue(), "image/png"
