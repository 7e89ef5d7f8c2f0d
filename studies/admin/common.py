"""Shared admin pieces: pictures through the staff-only media view, and the freezing of a
study's parts (conditions, groups, stimulus items, heatmaps) once the study is not a draft.

The models refuse such changes with :class:`~studies.models.study.StudyFrozenError`; the admin
shows the parts read-only, explains why, and answers a crafted POST with that message instead
of a server error.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.db.models.fields.files import FieldFile
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from studies.models import Study
from studies.models.study import StudyFrozenError, StudyPart

STUDY_PARTS = "conditions, participant groups and stimulus items"
UNFREEZE_HINT = (
    " While nobody has taken part, “Back to draft” on the study page makes them editable again."
)
MANAGEMENT_FIELDS = ("TOTAL_FORMS", "INITIAL_FORMS", "MIN_NUM_FORMS", "MAX_NUM_FORMS")


def staff_media_url(file: FieldFile) -> str:
    """The staff-only URL of a stored file (media has no public URL)."""
    return reverse("studies:staff-media", args=[file.name])


def thumbnail(file: FieldFile | None, alt: str) -> SafeString | str:
    """A small picture of ``file`` linking to the full-size file; a dash when there is none."""
    if not file:
        return "–"
    url = staff_media_url(file)
    return format_html(
        '<a href="{}" class="thumb" target="_blank" rel="noopener">'
        '<img src="{}" alt="{}" loading="lazy"></a>',
        url,
        url,
        alt,
    )


def pretty_json(value: Any) -> SafeString:
    """``value`` as indented JSON in a <pre> block (for read-only JSON fields)."""
    return format_html('<pre class="json">{}</pre>', json.dumps(value, indent=2, sort_keys=True))


class StaffFileLink:
    """A stored file as a file widget shows it, linking to the staff-media view."""

    def __init__(self, file: FieldFile):
        self.file = file
        self.url = staff_media_url(file)

    def __str__(self) -> str:
        return str(self.file)


class StaffFileInput(forms.ClearableFileInput):
    """A file input whose "Currently" link opens the staff-media view, not ``MEDIA_URL``."""

    def format_value(self, value: Any) -> Any:
        shown = super().format_value(value)
        return StaffFileLink(shown) if self.is_initial(shown) else shown


def study_of(obj: Study | StudyPart) -> Study:
    """The study that ``obj`` (a study or one of its parts) belongs to."""
    return obj if isinstance(obj, Study) else obj.owning_study()


def frozen_message(obj: Study | StudyPart | None, what: str | None = None) -> str | None:
    """Why ``what`` (default: ``obj``'s kind of part, or all parts of a study) of ``obj``'s study
    cannot change, or None while the study is a draft (or there is no object yet)."""
    if obj is None:
        return None
    try:
        study_of(obj).require_draft(what or getattr(obj, "frozen_name", STUDY_PARTS))
    except StudyFrozenError as error:
        return error.message + UNFREEZE_HINT
    return None


class FrozenInlineMixin:
    """An inline of a study's parts that becomes view-only once the study is not a draft.

    ``obj`` in the permission checks is the parent object (a study or a stimulus item).
    """

    def editable(self, obj: Any) -> bool:
        """Whether the inline's rows may change under parent ``obj`` (None: a new parent)."""
        return frozen_message(obj, self.model.frozen_name) is None

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.editable(obj) and super().has_delete_permission(request, obj)


def posts_inline_edit(data: QueryDict, prefix: str, fk_name: str, existing: int) -> bool:
    """Whether POSTed ``data`` tries to add, change or delete rows of inline formset ``prefix``.

    A view-only inline posts only its management form and each row's id and parent key;
    anything else (another field, a DELETE box, more rows than the ``existing`` ones) is an
    attempted edit.
    """
    try:
        total = int(data.get(f"{prefix}-TOTAL_FORMS", 0))
    except ValueError:
        return True
    if total > existing:
        return True
    for key in data:
        index, _, field = key.removeprefix(f"{prefix}-").partition("-")
        if key.startswith(f"{prefix}-") and index.isdigit() and field not in ("id", fk_name):
            return True
    return False


class FrozenGuardMixin:
    """Change pages of objects that can be frozen: a warning on the read-only page, and a POST
    that would change frozen parts is refused with a clear message (nothing is saved)."""

    def frozen_notice(self, obj: Any) -> str | None:
        """The warning shown on ``obj``'s page while it (or part of it) is frozen."""
        return frozen_message(obj)

    def frozen_refusal(self, request: HttpRequest, obj: Any) -> str | None:
        """Why this POST to ``obj``'s change page must be refused (None: let it through)."""
        return frozen_message(obj)

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id)) if object_id else None
        if obj is not None and request.method == "POST":
            if refusal := self.frozen_refusal(request, obj):
                return self.refuse(request, refusal, request.path)
        elif obj is not None and (notice := self.frozen_notice(obj)):
            messages.warning(request, notice)
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except StudyFrozenError as error:  # the study left the draft status meanwhile
            return self.refuse(request, error.message + UNFREEZE_HINT, request.path)

    def refuse(self, request: HttpRequest, message: str, to: str) -> HttpResponseRedirect:
        """Answer a refused change: ``message`` as an error, then back to the page ``to``."""
        self.message_user(request, message, messages.ERROR)
        return HttpResponseRedirect(to)
