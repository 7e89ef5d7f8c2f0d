"""Pictures: a participant's trial pictures under names that reveal nothing about the answer,
instruction images, and stimulus files for staff (the media folder has no public URL)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from studies.models import HeatmapSet, InstructionImage, Trial
from studies.views.participant import TOKEN
from studies.views.picture_bytes import BrokenPictureError, pixels_only

TRIAL_PICTURES = ("image", "left", "right", "cluster")


def _send(file: FieldFile, *, private: bool) -> HttpResponse:
    """The picture's pixels as a PNG (:mod:`studies.views.picture_bytes`), with the same
    headers for every picture: no file name, no modification time, no validator."""
    if not file:
        raise Http404("No such picture.")
    try:
        data = pixels_only(file.path)
    except FileNotFoundError as missing:
        raise Http404("The picture's file is missing.") from missing
    except BrokenPictureError as broken:
        raise Http404("The picture's file is broken.") from broken
    response = HttpResponse(data, content_type="image/png")
    response["Content-Length"] = str(len(data))
    response["Cache-Control"] = f"{'private' if private else 'public'}, max-age=3600"
    return response


def _content_type(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}.get(
        suffix, "application/octet-stream"
    )


@require_GET
def trial_picture(request: HttpRequest, token: str, trial: int, picture: str) -> HttpResponse:
    """``picture`` of one of the participant's own trials: the image, the left or right
    heatmap, or (CWOX-2s) the cluster map."""
    if picture not in TRIAL_PICTURES or not TOKEN.fullmatch(token):
        raise Http404("No such picture.")
    found = get_object_or_404(
        Trial.objects.select_related("item", "condition"), pk=trial, participant__token=token
    )
    if picture == "image":
        return _send(found.item.image, private=True)
    maps = get_object_or_404(HeatmapSet, item=found.item, method=found.condition.method)
    if picture == "cluster":
        return _send(maps.cluster_map, private=True)
    side = found.heatmap_left if picture == "left" else found.heatmap_right
    return _send(maps.map_of(side), private=True)


@require_GET
def instruction_image(request: HttpRequest, study: str, image: int) -> HttpResponse:
    found = get_object_or_404(InstructionImage, pk=image, study__slug=study)
    return _send(found.image, private=False)


@staff_member_required
@require_GET
def staff_media(request: HttpRequest, path: str) -> FileResponse:
    """Any stored stimulus file, for the researcher admin (thumbnails, previews)."""
    root = Path(settings.MEDIA_ROOT).resolve()
    target = (root / path).resolve()
    if root not in target.parents or not target.is_file():
        raise Http404("No such file.")
    response = FileResponse(target.open("rb"), content_type=_content_type(target.name))
    response["Cache-Control"] = "private, max-age=600"
    return response
