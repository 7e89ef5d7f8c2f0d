"""Trial pictures reveal nothing but their pixels: the responses of the left, right and
cluster pictures carry the same headers in every condition (no file name, no dates, no
validators), and their bytes hold no metadata (PNG text, time or other ancillary chunks)."""

from __future__ import annotations

import struct
from io import BytesIO

import pytest
from django.urls import reverse
from PIL import Image, PngImagePlugin

from studies.models import HeatmapSet, Participant
from tests.server.factories import make_study
from tests.server.participant_stages import at_trials

pytestmark = pytest.mark.django_db

HEATMAPS = ("left", "right", "cluster")
PIXEL_CHUNKS = {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"}


def png_chunks(data: bytes) -> list[bytes]:
    """The chunk types of a PNG file, in order."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    kinds, offset = [], 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kinds.append(data[offset + 4 : offset + 8])
        offset += 12 + length
    return kinds


def _tag_stored_pictures() -> None:
    """Give every stored heatmap file the metadata a careless renderer might leave: its
    method and side in text chunks, a time chunk, a custom chunk and a physical size."""
    for maps in HeatmapSet.objects.all():
        for field in (maps.map_a, maps.map_b, maps.cluster_map):
            if not field:
                continue
            path = field.path
            info = PngImagePlugin.PngInfo()
            info.add_text("Title", field.name)
            info.add_itxt("Comment", f"method {maps.method}")
            info.add(b"tIME", struct.pack(">HBBBBB", 2024, 1, 2, 3, 4, 5))
            info.add(b"leAk", field.name.encode())
            with Image.open(path) as image:
                image.load()
                image.save(path, format="PNG", pnginfo=info, dpi=(72, 72))


def _responses(study) -> list:
    """left/right/cluster responses of one participant per condition and group."""
    responses = []
    for group in ("expert", "non-expert"):
        for _ in study.conditions.all():
            client, participant = at_trials(study, group)
            for trial in participant.trials.all():
                for picture in (
                    HEATMAPS if participant.condition.shows_cluster_map else HEATMAPS[:2]
                ):
                    url = reverse(
                        "studies:trial-picture", args=[participant.token, trial.pk, picture]
                    )
                    response = client.get(url)
                    assert response.status_code == 200
                    responses.append(response)
    assert {p.condition.method for p in Participant.objects.all()} == {
        "swox",
        "cwox-1sb",
        "cwox-2s",
    }
    return responses


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def _headers(response) -> dict[str, str]:
    return {k.lower(): v for k, v in response.headers.items() if k.lower() != "content-length"}


def test_heatmap_responses_share_every_header_across_sides_and_conditions(tmp_path):
    study = make_study(tmp_path)
    responses = _responses(study)
    first = _headers(responses[0])
    assert first["content-type"] == "image/png"
    for response in responses:
        assert _headers(response) == first
        assert int(response.headers["Content-Length"]) == len(_body(response))
        assert not response.cookies
    for name in ("content-disposition", "etag", "last-modified", "expires"):
        assert name not in first


def test_served_pictures_hold_only_pixel_chunks(tmp_path):
    study = make_study(tmp_path)
    _tag_stored_pictures()
    for response in _responses(study):
        served = _body(response)
        assert set(png_chunks(served)) <= PIXEL_CHUNKS, png_chunks(served)
        assert b"swox" not in served.lower() and b"cwox" not in served.lower()


def test_served_pictures_keep_the_stored_pixels(tmp_path):
    study = make_study(tmp_path)
    _tag_stored_pictures()
    client, participant = at_trials(study)
    for trial in participant.trials.all():
        maps = HeatmapSet.objects.get(item=trial.item, method=trial.condition.method)
        url = reverse("studies:trial-picture", args=[participant.token, trial.pk, "left"])
        served = Image.open(BytesIO(_body(client.get(url))))
        with Image.open(maps.map_of(trial.heatmap_left).path) as stored:
            assert served.size == stored.size
            assert served.convert("RGBA").tobytes() == stored.convert("RGBA").tobytes()


def test_a_jpeg_with_exif_is_served_as_a_png_without_it(tmp_path):
    from studies.views.picture_bytes import pixels_only

    path = tmp_path / "photo.jpg"
    exif = Image.Exif()
    exif[0x010E] = "cwox-2s left heatmap"  # ImageDescription
    Image.new("RGB", (16, 16), (200, 30, 10)).save(path, format="JPEG", exif=exif)
    served = pixels_only(str(path))
    assert set(png_chunks(served)) <= PIXEL_CHUNKS
    assert b"cwox" not in served
    with Image.open(path) as stored, Image.open(BytesIO(served)) as decoded:
        assert decoded.convert("RGB").tobytes() == stored.convert("RGB").tobytes()


def test_a_damaged_png_is_decoded_again_and_a_non_picture_is_refused(tmp_path):
    from studies.views.picture_bytes import BrokenPictureError, pixels_only

    good = tmp_path / "good.png"
    info = PngImagePlugin.PngInfo()
    info.add_text("Title", "cwox-2s-a.png")
    Image.new("RGB", (8, 8), (1, 2, 3)).save(good, pnginfo=info)
    data = bytearray(good.read_bytes())
    text_at = data.index(b"tEXt")
    data[text_at + 8] ^= 0xFF  # a wrong CRC in the text chunk
    damaged = tmp_path / "damaged.png"
    damaged.write_bytes(bytes(data))
    served = pixels_only(str(damaged))
    assert set(png_chunks(served)) <= PIXEL_CHUNKS
    assert Image.open(BytesIO(served)).convert("RGB").getpixel((0, 0)) == (1, 2, 3)
    text = tmp_path / "swox-b.png"
    text.write_text("not a picture")
    with pytest.raises(BrokenPictureError):
        pixels_only(str(text))
