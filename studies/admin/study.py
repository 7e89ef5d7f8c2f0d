"""The study admin: settings, conditions and groups inline (pre-filled with the paper's design
for a new study), instruction images, status changes through :mod:`studies.lifecycle`."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.db import models
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from studies.admin.common import (
    FrozenGuardMixin,
    FrozenInlineMixin,
    StaffFileInput,
    frozen_message,
    posts_inline_edit,
    thumbnail,
)
from studies.admin.forms import ConditionForm, ParticipantGroupForm
from studies.admin.jobs import evaluate_faithfulness, pregenerate_heatmaps
from studies.admin.study_pages import StudyPagesMixin, change_status
from studies.models import Condition, InstructionImage, ParticipantGroup, Study
from studies.models.study import DEFAULT_CONDITIONS, DEFAULT_GROUPS

FROZEN_SETTINGS = ("slug", "training_trials", "test_trials", "attention_check_positions", "seed")
"""Settings that shape assignment and schedules (or the links): read-only once opened."""


class PrefilledInline(FrozenInlineMixin, admin.TabularInline):
    """A frozen-when-opened inline whose rows are pre-filled with ``prefill`` on a new study
    (the researcher may edit or remove them before saving)."""

    prefill: tuple[dict, ...] = ()

    def get_extra(self, request: HttpRequest, obj: Study | None = None, **kwargs) -> int:
        return len(self.prefill) if obj is None else 0


class ConditionInline(PrefilledInline):
    model = Condition
    form = ConditionForm
    fields = ("name", "method", "position")
    prefill = tuple(
        {"name": name, "method": method, "position": position}
        for position, (name, method) in enumerate(DEFAULT_CONDITIONS)
    )


class ParticipantGroupInline(PrefilledInline):
    model = ParticipantGroup
    form = ParticipantGroupForm
    fields = ("name", "slug", "question_label", "position")
    prefill = tuple(
        {"name": name, "slug": name, "question_label": label, "position": position}
        for position, (name, label) in enumerate(DEFAULT_GROUPS)
    )


class InstructionImageInline(admin.TabularInline):
    model = InstructionImage
    extra = 0
    fields = ("image", "preview", "caption", "position")
    readonly_fields = ("preview",)
    formfield_overrides = {models.ImageField: {"widget": StaffFileInput}}

    @admin.display(description="preview")
    def preview(self, image: InstructionImage) -> SafeString | str:
        return thumbnail(image.image, image.caption or "instruction image")


@admin.register(Study)
class StudyAdmin(StudyPagesMixin, FrozenGuardMixin, admin.ModelAdmin):
    list_display = ("title", "slug", "status", "item_count", "participant_count", "pages")
    list_filter = ("status",)
    search_fields = ("title", "slug")
    inlines = (ConditionInline, ParticipantGroupInline, InstructionImageInline)
    actions = ("open_studies", "close_studies", "back_to_draft")
    actions += (pregenerate_heatmaps, evaluate_faithfulness)
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    readonly_fields = ("status", "created_at", "opened_at", "closed_at", "stimuli", "frozen")
    fieldsets = (
        (None, {"fields": ("title", "slug", "status", ("created_at", "opened_at", "closed_at"))}),
        (
            "What participants read",
            {"fields": ("consent_text", "group_question", "instructions", "debrief_text")},
        ),
        ("Completion", {"fields": ("completion_code", "redirect_url")}),
        (
            "Trials",
            {
                "fields": (
                    "training_trials",
                    "test_trials",
                    "attention_check_positions",
                    "abandonment_timeout_minutes",
                    "seed",
                )
            },
        ),
        ("Exclusion rules", {"fields": ("max_failed_attention_checks", "min_response_ms")}),
        (
            "Stimuli",
            {
                "fields": (
                    "stimuli",
                    ("flag_visible_area_below", "flag_pair_similarity_above"),
                    "frozen",
                )
            },
        ),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Study]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                items_total=Count("items", distinct=True),
                participants_total=Count("participants", distinct=True),
            )
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Study | None = None) -> tuple:
        frozen = obj is not None and not obj.is_draft
        return (*self.readonly_fields, *(FROZEN_SETTINGS if frozen else ()))

    def get_prepopulated_fields(self, request: HttpRequest, obj: Study | None = None) -> dict:
        return {"slug": ("title",)} if obj is None or obj.is_draft else {}

    def get_formset_kwargs(self, request: HttpRequest, obj: Study, inline, prefix: str) -> dict:
        """A new study's condition and group rows start with the paper's design."""
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        if obj.pk is None and getattr(inline, "prefill", ()):
            kwargs["initial"] = list(inline.prefill)
        return kwargs

    def frozen_refusal(self, request: HttpRequest, obj: Study) -> str | None:
        """Refuse a POST that edits an opened study's conditions or groups (the page shows
        them read-only, so only a crafted or stale form does)."""
        message = frozen_message(obj)
        if message is None:
            return None
        for inline in self.get_inline_instances(request, obj):
            if isinstance(inline, FrozenInlineMixin):
                formset = inline.get_formset(request, obj)
                existing = inline.model.objects.filter(**{formset.fk.name: obj}).count()
                prefix = formset.get_default_prefix()
                if posts_inline_edit(request.POST, prefix, formset.fk.name, existing):
                    return message
        return None

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        study = self.get_object(request, unquote(object_id))
        if study is not None:
            extra_context = {
                **(extra_context or {}),
                "study_pages": self.study_pages(study),
                "status_buttons": self.status_buttons(study)
                if self.has_change_permission(request, study)
                else [],
            }
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="items", ordering="items_total")
    def item_count(self, study: Study) -> int:
        return study.items_total

    @admin.display(description="participants", ordering="participants_total")
    def participant_count(self, study: Study) -> int:
        return study.participants_total

    @admin.display(description="pages")
    def pages(self, study: Study) -> SafeString:
        return format_html_join(" · ", '<a href="{1}">{0}</a>', self.study_pages(study))

    @admin.display(description="stimulus items")
    def stimuli(self, study: Study) -> SafeString | str:
        if study.pk is None:
            return "Save the study first, then import stimuli from its page."
        rows = study.items.order_by().values("role").annotate(n=Count("pk"))
        counts = {row["role"]: row["n"] for row in rows}
        text = ", ".join(f"{counts.get(role, 0)} {role}" for role in ("training", "test"))
        return format_html(
            '{}, {} attention check — <a href="{}">show items</a>',
            text,
            counts.get("attention", 0),
            self.related_list("stimulusitem", study),
        )

    @admin.display(description="frozen stimuli")
    def frozen(self, study: Study) -> str:
        snapshot = study.frozen_manifest
        if not snapshot:
            return "Not frozen (the study is a draft)."
        return (
            f"{len(snapshot.get('items', []))} items and their file hashes, frozen at "
            f"{snapshot.get('frozen_at', '?')}."
        )

    def _change_statuses(self, request: HttpRequest, queryset: QuerySet, operation: str) -> None:
        for study in queryset:
            level, text = change_status(study, operation)
            self.message_user(request, text, level)

    @admin.action(
        description="Open selected studies (checks that each is complete)", permissions=("change",)
    )
    def open_studies(self, request: HttpRequest, queryset: QuerySet[Study]) -> None:
        self._change_statuses(request, queryset, "open")

    @admin.action(description="Close selected studies", permissions=("change",))
    def close_studies(self, request: HttpRequest, queryset: QuerySet[Study]) -> None:
        self._change_statuses(request, queryset, "close")

    @admin.action(
        description="Send selected studies back to draft (only without participants)",
        permissions=("change",),
    )
    def back_to_draft(self, request: HttpRequest, queryset: QuerySet[Study]) -> None:
        self._change_statuses(request, queryset, "draft")
