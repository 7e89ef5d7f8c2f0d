"""Participants and what belongs to them, read-only: researchers see progress and trials but
never add or edit them; deleting a participant (a withdrawal request) asks for confirmation.
External identities (e.g. Prolific ids) have their own admin, apart from the responses."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from studies.admin.links import copy_field, invite_state, invite_url
from studies.models import ExternalIdentity, Invite, Participant, Trial


class ReadOnlyMixin:
    """Nothing can be added or changed here (view and, where the model admin allows, delete)."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


def within_study_filter(field: str, title: str) -> type[admin.SimpleListFilter]:
    """A list filter on foreign key ``field`` whose choices name their study, so that the
    groups (or conditions) of different studies that share a name can be told apart."""

    class WithinStudy(admin.SimpleListFilter):
        parameter_name = f"{field}__id__exact"

        def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
            related = model_admin.model._meta.get_field(field).related_model
            return [(o.pk, f"{o.study}: {o}") for o in related.objects.select_related("study")]

        def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
            return queryset.filter(**{f"{field}_id": self.value()}) if self.value() else queryset

    WithinStudy.title = title
    return WithinStudy


def token_prefix(token: str) -> str:
    """The first characters of a token: enough to tell participants apart, not to act as one."""
    return f"{token[:8]}…"


class TrialInline(ReadOnlyMixin, admin.TabularInline):
    model = Trial
    extra = 0
    can_delete = False
    fields = (
        "position",
        "block",
        "item_key",
        "is_attention_check",
        "heatmap_left",
        "label_first",
        "answer_left",
        "answer_right",
        "correct",
        "confidence",
        "shown_at",
        "answered_at",
        "client_response_ms",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Trial]:
        return super().get_queryset(request).select_related("item")

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="item")
    def item_key(self, trial: Trial) -> str:
        return trial.item.key


@admin.register(Participant)
class ParticipantAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "participant",
        "study",
        "group",
        "condition",
        "state",
        "stage",
        "consented_at",
        "completed_at",
        "answered",
    )
    list_filter = (
        "study",
        within_study_filter("group", "group"),
        within_study_filter("condition", "condition"),
        "state",
    )
    list_select_related = ("study", "group", "condition")
    date_hierarchy = "consented_at"
    fields = (
        "participant",
        "study",
        "group",
        "condition",
        "state",
        "stage",
        "assignment_number",
        "seed",
        "consented_at",
        "assigned_at",
        "last_seen_at",
        "completed_at",
        "answered",
    )
    readonly_fields = fields
    inlines = (TrialInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Participant]:
        answered = Count("trials", filter=Q(trials__answered_at__isnull=False))
        return super().get_queryset(request).annotate(answered_total=answered)

    @admin.display(description="participant", ordering="token")
    def participant(self, participant: Participant) -> str:
        return token_prefix(participant.token)

    @admin.display(description="answered", ordering="answered_total")
    def answered(self, participant: Participant) -> int:
        return participant.answered_total


@admin.register(ExternalIdentity)
class ExternalIdentityAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Recruitment platform ids, e.g. to find the participant behind a withdrawal request."""

    list_display = (
        "external_id",
        "source",
        "study",
        "platform_study_id",
        "platform_session_id",
        "participant_link",
        "created_at",
    )
    list_filter = ("study", "source")
    list_select_related = ("study", "participant")
    search_fields = ("external_id", "platform_session_id")
    fields = list_display
    readonly_fields = list_display

    @admin.display(description="participant")
    def participant_link(self, identity: ExternalIdentity) -> SafeString:
        url = reverse(
            f"{self.admin_site.name}:studies_participant_change", args=[identity.participant_id]
        )
        return format_html('<a href="{}">{}</a>', url, token_prefix(identity.participant.token))


@admin.register(Invite)
class InviteAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Personal links (created on a study's "Participant links" page)."""

    list_display = ("created_at", "study", "group", "note", "expires_at", "state")
    list_display_links = ("created_at",)
    list_filter = ("study", within_study_filter("group", "group"))
    list_select_related = ("study", "group", "participant")
    search_fields = ("note",)
    fields = ("study", "group", "note", "created_at", "expires_at", "state")
    readonly_fields = fields

    def get_list_display(self, request: HttpRequest) -> tuple:
        return (self.link_column(request), *self.list_display)

    @staticmethod
    def link_column(request: HttpRequest) -> Callable[[Invite], SafeString]:
        """A list column with each invite's absolute link and a copy button."""

        def link(invite: Invite) -> SafeString:
            return copy_field(invite_url(request, invite), "invite link")

        link.short_description = "link"
        return link

    @admin.display(description="state")
    def state(self, invite: Invite) -> str:
        return invite_state(invite)
