"""Images for platforms: decode, check, shrink and re-encode with Pillow. Pure: bytes in, bytes out.

Every platform caps what it accepts (Bluesky: a 1,000,000-byte thumbnail; X: 5 MB; Telegram:
10 MB; Mastodon: per instance). ``prepare_image`` returns the original bytes when they already
fit, and otherwise scales the picture down and re-encodes it (JPEG, or PNG when it has
transparency and fits) until it does. Decompression bombs and undecodable data raise
``MediaError``; publishers then post without the image rather than not at all.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from bot.errors import MediaError

MAX_PIXELS = 80_000_000  # refuse to decode anything larger (decompression bombs)
_MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}
_QUALITIES = (88, 80, 72, 64, 56)


@dataclass(frozen=True, slots=True)
class PreparedImage:
    """Bytes ready to upload, with their type and pixel size."""

    data: bytes
    mime: str
    width: int
    height: int


def prepare_image(
    data: bytes,
    *,
    max_bytes: int,
    max_side: int | None = None,
    allowed: tuple[str, ...] = ("image/jpeg", "image/png", "image/webp", "image/gif"),
) -> PreparedImage:
    """``data`` as an image of at most ``max_bytes`` bytes and ``max_side`` pixels a side, in
    one of the ``allowed`` types. Raises ``MediaError`` when it is not an image or cannot be
    brought under the limit."""
    image = _open(data)
    mime = _MIME.get(image.format or "", "")
    width, height = image.size
    fits_side = max_side is None or max(width, height) <= max_side
    if mime in allowed and len(data) <= max_bytes and fits_side:
        return PreparedImage(data, mime, width, height)

    image = _first_frame(image)
    if max_side is not None and max(image.size) > max_side:
        image.thumbnail((max_side, max_side), PILImage.Resampling.LANCZOS)
    keep_png = "image/png" in allowed and _has_alpha(image)
    for scale in (1.0, 0.75, 0.5, 0.35, 0.25, 0.15):
        candidate = image
        if scale < 1.0:
            size = (max(1, int(image.width * scale)), max(1, int(image.height * scale)))
            candidate = image.resize(size, PILImage.Resampling.LANCZOS)
        if keep_png:
            out = _encode(candidate, "PNG")
            if len(out) <= max_bytes:
                return PreparedImage(out, "image/png", *candidate.size)
        if "image/jpeg" in allowed:
            flat = _flatten(candidate)
            for quality in _QUALITIES:
                out = _encode(flat, "JPEG", quality=quality)
                if len(out) <= max_bytes:
                    return PreparedImage(out, "image/jpeg", *flat.size)
    raise MediaError(f"cannot bring the image under {max_bytes} bytes")


def _open(data: bytes) -> PILImage.Image:
    if not data:
        raise MediaError("empty image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            image = PILImage.open(io.BytesIO(data))
            if image.width * image.height > MAX_PIXELS:
                raise MediaError(f"image too large to decode ({image.width}×{image.height} pixels)")
            image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise MediaError(f"not a usable image: {e}") from None
    except (PILImage.DecompressionBombWarning, PILImage.DecompressionBombError) as e:
        raise MediaError(f"image refused: {e}") from None
    return image


def _first_frame(image: PILImage.Image) -> PILImage.Image:
    if getattr(image, "is_animated", False):
        image.seek(0)
    return image.copy()


def _has_alpha(image: PILImage.Image) -> bool:
    return image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info)


def _flatten(image: PILImage.Image) -> PILImage.Image:
    """RGB on white (JPEG has no transparency)."""
    if _has_alpha(image):
        rgba = image.convert("RGBA")
        background = PILImage.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _encode(image: PILImage.Image, fmt: str, **options: int) -> bytes:
    buf = io.BytesIO()
    if fmt == "JPEG":
        image.save(buf, "JPEG", optimize=True, progressive=True, **options)
    else:
        image.save(buf, fmt, optimize=True)
    return buf.getvalue()
