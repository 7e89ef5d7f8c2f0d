"""The bytes of a served picture: its pixels and nothing else.

A stored PNG may carry text (``tEXt``/``iTXt``/``zTXt``: a renderer's file name, method or
software), a time stamp (``tIME``), a physical size or private chunks, any of which could
tell a curious participant which heatmap is which. A PNG is served with only the chunks that
make its pixels (``IHDR``, ``PLTE``, ``tRNS``, ``IDAT``, ``IEND``), byte for byte; any other
picture (a JPEG photograph with EXIF data, a PNG that does not parse) is decoded and written
again as a PNG without metadata. The length of what is served then follows from the pixels
and the encoder alone: two heatmaps of one item differ in length only because their pixels
differ, which the participant sees anyway.

Results are cached per worker process, keyed by the file's path, size and modification time
(a replaced file is read again).
"""

from __future__ import annotations

import os
import struct
import zlib
from functools import lru_cache
from io import BytesIO

from PIL import Image, UnidentifiedImageError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PIXEL_CHUNKS = frozenset({b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"})
CACHED_PICTURES = 512


class BrokenPictureError(ValueError):
    """A stored file that is not a picture."""


def pixels_only(path: str) -> bytes:
    """The PNG to serve for the picture at ``path`` (see the module's docstring)."""
    stat = os.stat(path)
    return _cleaned(path, stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=CACHED_PICTURES)
def _cleaned(path: str, size: int, modified_ns: int) -> bytes:
    with open(path, "rb") as stream:
        data = stream.read()
    try:
        return png_pixel_chunks(data)
    except ValueError:
        return _reencoded(data)


def png_pixel_chunks(data: bytes) -> bytes:
    """``data`` (a PNG file) with only its pixel chunks; ValueError when ``data`` is not a
    well-formed PNG (signature, chunk lengths, the kept chunks' CRCs, an ``IEND`` chunk).
    A damaged chunk that is dropped anyway does not matter."""
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG file")
    kept, offset = [PNG_SIGNATURE], len(PNG_SIGNATURE)
    while offset < len(data):
        if offset + 12 > len(data):
            raise ValueError("truncated chunk")
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        end = offset + 12 + length
        kind, body = data[offset + 4 : offset + 8], data[offset + 8 : end - 4]
        if end > len(data):
            raise ValueError("truncated chunk")
        if kind in PIXEL_CHUNKS:
            if zlib.crc32(kind + body) != struct.unpack(">I", data[end - 4 : end])[0]:
                raise ValueError(f"damaged {kind.decode('latin-1')} chunk")
            kept.append(data[offset:end])
        offset = end
        if kind == b"IEND":
            return b"".join(kept)
    raise ValueError("no IEND chunk")


def _reencoded(data: bytes) -> bytes:
    try:
        with Image.open(BytesIO(data)) as picture:
            picture.load()
            pixels = (
                picture
                if picture.mode in ("RGB", "RGBA", "L", "LA", "P")
                else picture.convert("RGB")
            )
            out = BytesIO()
            pixels.save(out, format="PNG")
    except (UnidentifiedImageError, OSError) as error:
        raise BrokenPictureError(f"not a picture: {error}") from error
    return png_pixel_chunks(out.getvalue())
