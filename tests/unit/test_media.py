"""Images brought under platform limits (Bluesky's 1,000,000-byte thumbnail and others)."""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image as PILImage

from bot.errors import MediaError
from bot.media import prepare_image


def noisy_jpeg(width: int, height: int, quality: int = 98) -> bytes:
    """A photo-like JPEG that compresses badly (random noise), so it is really large."""
    rng = random.Random(7)
    image = PILImage.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def png(width: int, height: int, *, alpha: bool) -> bytes:
    image = PILImage.new(
        "RGBA" if alpha else "RGB", (width, height), (200, 30, 30, 128) if alpha else (200, 30, 30)
    )
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def decode(data: bytes) -> PILImage.Image:
    image = PILImage.open(io.BytesIO(data))
    image.load()
    return image


def test_a_thumbnail_over_1mb_is_reencoded_under_the_bluesky_limit() -> None:
    big = noisy_jpeg(2400, 1600)
    assert len(big) > 1_000_000
    out = prepare_image(big, max_bytes=1_000_000)
    assert len(out.data) <= 1_000_000
    assert out.mime == "image/jpeg"
    image = decode(out.data)
    assert image.format == "JPEG"
    assert (image.width, image.height) == (out.width, out.height)
    assert abs(out.width / out.height - 1.5) < 0.01  # aspect ratio kept


def test_an_image_that_fits_is_returned_untouched() -> None:
    small = noisy_jpeg(300, 200, quality=70)
    out = prepare_image(small, max_bytes=1_000_000)
    assert out.data == small
    assert (out.width, out.height, out.mime) == (300, 200, "image/jpeg")


def test_max_side_scales_down() -> None:
    out = prepare_image(noisy_jpeg(3000, 1000, quality=60), max_bytes=10_000_000, max_side=1200)
    assert (out.width, out.height) == (1200, 400)


def test_transparent_png_stays_png_when_it_fits_and_is_flattened_for_jpeg_only_platforms() -> None:
    data = png(800, 600, alpha=True)
    assert prepare_image(data, max_bytes=1_000_000, max_side=400).mime == "image/png"
    flat = prepare_image(data, max_bytes=1_000_000, allowed=("image/jpeg",))
    assert flat.mime == "image/jpeg"
    assert decode(flat.data).mode == "RGB"


def test_an_unsupported_type_is_converted() -> None:
    buf = io.BytesIO()
    PILImage.new("RGB", (100, 100)).save(buf, "BMP")
    out = prepare_image(buf.getvalue(), max_bytes=1_000_000)
    assert out.mime == "image/jpeg"


@pytest.mark.parametrize(
    "data", [b"", b"<html>not an image</html>", b"\x89PNG\r\n\x1a\n" + b"\0" * 20]
)
def test_non_images_raise_media_error(data: bytes) -> None:
    with pytest.raises(MediaError):
        prepare_image(data, max_bytes=1_000_000)


def test_impossible_limit_raises() -> None:
    with pytest.raises(MediaError, match="cannot bring the image under 50 bytes"):
        prepare_image(noisy_jpeg(400, 400), max_bytes=50)
