"""The study's own admin pages next to its change page: status buttons, "Import stimuli",
participant links and invites, and live progress (a page polling a small JSON endpoint).

Every page is routed through :meth:`ModelAdmin.get_urls` and guarded by
``admin_site.admin_view`` (staff only); changing pages also need the change permission.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    QueryDict,
)
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST

from studies.admin.common import frozen_message
from studies.admin.forms import CreateInvitesForm, ImportStimuliForm, ReviewDecisionForm
from studies.admin.links import (
    PROLIFIC_QUERY,
    copy_field,
    invite_state,
    invite_url,
    public_links,
)
from studies.admin.power import power_view
from studies.admin.progress import FIELD_LABELS, FIELDS, study_progress, table
from studies.admin.results import results_context
from studies.lifecycle import close_study, open_study, reopen_as_draft, unreviewed_flagged
from studies.models import StimulusItem, Study
from studies.review import (
    rejected_images,
    review_counts,
    review_items,
    review_query,
    sanity_rows,
)
from studies.stimuli_import import ManifestError, import_manifest_zip

#: The message level of an opening held back for the stimulus review.
REVIEW_FIRST = messages.WARNING
INVITES_SHOWN = 200
POLL_SECONDS = 10


@dataclass(frozen=True)
class StatusChange:
    """A status button/action: what it calls and from which statuses it is offered."""

    label: str
    run: Callable[[Study], None]
    done: str
    allowed_from: tuple[str, ...]


S = Study.Status
STATUS_CHANGES = {
    "open": StatusChange("Open study", open_study, "is open", (S.DRAFT, S.CLOSED)),
    "close": StatusChange("Close study", close_study, "is closed", (S.OPEN,)),
    "draft": StatusChange("Back to draft", reopen_as_draft, "is a draft again", (S.OPEN, S.CLOSED)),
}


def change_status(study: Study, operation: str, *, with_flagged: bool = False) -> tuple[int, str]:
    """Apply status ``operation`` ('open', 'close', 'draft') through :mod:`studies.lifecycle`;
    returns the message level and text to show (the problems when it is refused).

    A draft with flagged items nobody has reviewed opens only ``with_flagged`` (the review
    page's confirmation); otherwise the answer is :data:`REVIEW_FIRST`'s level and a pointer to
    the review page.
    """
    change = STATUS_CHANGES[operation]
    if study.status not in change.allowed_from:
        status = study.get_status_display().lower()
        return messages.ERROR, f"“{study}” is {status}: “{change.label}” does not apply."
    held_back = operation == "open" and study.is_draft and not with_flagged
    if held_back and (flagged := unreviewed_flagged(study)):
        return REVIEW_FIRST, (
            f"“{study}” has {len(flagged)} items with quality flags that nobody has "
            "reviewed: keep or drop them on its “Review stimuli” page, or open it from there."
        )
    try:
        change.run(study)
    except ValidationError as error:
        return messages.ERROR, " ".join(error.messages)
    return messages.SUCCESS, f"“{study}” {change.done}."


class StudyPagesMixin:
    """Adds the study pages to a ``ModelAdmin`` of :class:`Study`."""

    def get_urls(self) -> list[URLPattern]:
        def page(route: str, view: Callable, name: str) -> URLPattern:
            guarded = self.admin_site.admin_view(view)
            return path(f"<path:object_id>/{route}", guarded, name=self.page_name(name))

        return [
            page("import/", self.import_view, "import"),
            page("links/", self.links_view, "links"),
            page("progress/", self.progress_view, "progress"),
            page("progress.json", self.progress_json_view, "progress_json"),
            page("results/", self.results_view, "results"),
            page("power/", power_view(self), "power"),
            page("review/", self.review_view, "review"),
            page("review/<int:item>/", self.review_decision_view, "review_decision"),
            page("status/<slug:operation>/", self.status_view, "status"),
            *super().get_urls(),
        ]

    def page_name(self, name: str) -> str:
        """The URL name of this admin's page ``name`` (without the admin site's namespace)."""
        return f"{self.opts.app_label}_{self.opts.model_name}_{name}"

    def page_url(self, name: str, study: Study, *args: str) -> str:
        """The URL of ``study``'s page ``name`` (also a standard one such as 'change')."""
        return reverse(f"{self.admin_site.name}:{self.page_name(name)}", args=[study.pk, *args])

    def study_or_404(self, request: HttpRequest, object_id: str, *, change: bool) -> Study:
        """The study of the URL, if the user may see it (and, with ``change``, change it)."""
        study = self.get_object(request, unquote(object_id))
        if study is None:
            raise Http404("No such study.")
        allowed = self.has_change_permission if change else self.has_view_permission
        if not allowed(request, study):
            raise PermissionDenied
        return study

    def page_context(self, request: HttpRequest, study: Study, title: str, **extra) -> dict:
        """The template context of a study page: the admin's own, the study and ``extra``."""
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": study,
            "title": title,
            "subtitle": str(study),
            "study_pages": self.study_pages(study),
            **extra,
        }

    def study_pages(self, study: Study) -> list[tuple[str, str]]:
        """Links to the study's pages, for its change page and the pages themselves."""
        pages = [
            ("Progress", self.page_url("progress", study)),
            ("Results", self.page_url("results", study)),
            ("Power", self.page_url("power", study)),
            ("Participant links", self.page_url("links", study)),
            ("Stimulus items", self.related_list("stimulusitem", study)),
            ("Review stimuli", self.page_url("review", study)),
        ]
        if study.is_draft:
            pages.append(("Import stimuli", self.page_url("import", study)))
        return pages

    def related_list(self, model_name: str, study: Study) -> str:
        """The admin list of ``model_name`` objects, filtered to ``study``."""
        changelist = reverse(f"{self.admin_site.name}:studies_{model_name}_changelist")
        return f"{changelist}?study__id__exact={study.pk}"

    def status_buttons(self, study: Study) -> list[tuple[str, str]]:
        """(label, URL to POST to) of the status changes offered for ``study``."""
        return [
            (change.label, self.page_url("status", study, operation))
            for operation, change in STATUS_CHANGES.items()
            if study.status in change.allowed_from
        ]

    def status_view(self, request: HttpRequest, object_id: str, operation: str) -> HttpResponse:
        """POST: open, close or send back to draft; back to the study's page with the result."""
        if operation not in STATUS_CHANGES:
            raise Http404("No such status change.")
        return require_POST(self._status)(request, object_id, operation)

    def _status(self, request: HttpRequest, object_id: str, operation: str) -> HttpResponse:
        study = self.study_or_404(request, object_id, change=True)
        with_flagged = request.POST.get("confirm") == "flagged"
        level, text = change_status(study, operation, with_flagged=with_flagged)
        if level == REVIEW_FIRST:
            self.message_user(request, text, level)
            return HttpResponseRedirect(self.page_url("review", study) + "?flagged=1")
        self.message_user(request, text, level)
        return HttpResponseRedirect(self.page_url("change", study))

    def import_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Upload a ZIP of an engine manifest folder into a draft study."""
        study = self.study_or_404(request, object_id, change=True)
        refusal = frozen_message(study, "stimulus items")
        form = ImportStimuliForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and refusal is None and form.is_valid():
            upload = form.cleaned_data["archive"]
            try:
                items = import_manifest_zip(
                    study, upload, training=form.cleaned_data["training"], source=upload.name
                )
            except ManifestError as error:
                form.add_error("archive", f"{upload.name} was not imported: {error}.")
            except ValidationError as error:
                form.add_error("archive", " ".join(error.messages))
            else:
                text = f"Imported {len(items)} stimulus items from {upload.name}."
                self.message_user(request, text, messages.SUCCESS)
                return HttpResponseRedirect(self.related_list("stimulusitem", study))
        context = self.page_context(
            request,
            study,
            "Import stimuli",
            form=form,
            refusal=refusal,
            manifests=study.manifests.all(),
        )
        return TemplateResponse(request, "admin/studies/study/import_stimuli.html", context)

    def links_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The public links (with Prolific's parameters) and the invites; POST creates invites."""
        study = self.study_or_404(request, object_id, change=request.method == "POST")
        form = CreateInvitesForm(study, request.POST or None)
        if request.method == "POST" and form.is_valid():
            created = form.create()
            self.message_user(request, f"Created {len(created)} invites.", messages.SUCCESS)
            return HttpResponseRedirect(request.path)
        invites = study.invites.select_related("group", "participant")[:INVITES_SHOWN]
        context = self.page_context(
            request,
            study,
            "Participant links",
            form=form,
            can_invite=self.has_change_permission(request, study),
            links=public_links(request, study),
            prolific_query=PROLIFIC_QUERY,
            invites=[
                (
                    invite,
                    copy_field(invite_url(request, invite), "invite link"),
                    invite_state(invite),
                )
                for invite in invites
            ],
            invite_total=study.invites.count(),
            invites_shown=INVITES_SHOWN,
            invite_list=self.related_list("invite", study),
        )
        return TemplateResponse(request, "admin/studies/study/links.html", context)

    def progress_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Participants per group × condition, declines and recent activity; refreshes itself."""
        study = self.study_or_404(request, object_id, change=False)
        progress = study_progress(study)
        context = self.page_context(
            request,
            study,
            "Progress",
            progress=progress,
            table=table(progress),
            fields=" ".join(FIELDS),
            field_labels=FIELD_LABELS.values(),
            json_url=self.page_url("progress_json", study),
            poll_ms=POLL_SECONDS * 1000,
            poll_seconds=POLL_SECONDS,
        )
        return TemplateResponse(request, "admin/studies/study/progress.html", context)

    def progress_json_view(self, request: HttpRequest, object_id: str) -> JsonResponse:
        """The progress page's data (:func:`studies.admin.progress.study_progress`)."""
        study = self.study_or_404(request, object_id, change=False)
        response = JsonResponse(study_progress(study))
        response["Cache-Control"] = "no-store"
        return response

    def results_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Tables (paper layout), comparisons, calibration, flow and plots; reloads itself."""
        study = self.study_or_404(request, object_id, change=False)
        exclusions = request.GET.get("exclusions") != "0"
        context = self.page_context(
            request, study, "Results", **results_context(study, exclusions=exclusions)
        )
        return TemplateResponse(request, "admin/studies/study/results.html", context)

    def review_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Every item × condition as participants see it, with measures, flags and decisions.

        Query: ``flagged=1`` shows only flagged items, ``method=NAME`` only that condition.
        """
        study = self.study_or_404(request, object_id, change=False)
        methods = list(study.conditions.values_list("method", flat=True))
        method = request.GET.get("method") or None
        if method not in (None, *methods):
            method = None
        flagged_only = request.GET.get("flagged") == "1"
        rows = review_items(study, method=method, flagged_only=flagged_only)
        can_decide = study.is_draft and self.has_change_permission(request, study)
        context = self.page_context(
            request,
            study,
            "Review stimuli",
            rows=rows,
            counts=review_counts(study),
            flagged_undecided=len(unreviewed_flagged(study)),
            rejected=rejected_images(study),
            sanity=sanity_rows(study),
            methods=methods,
            method=method,
            flagged_only=flagged_only,
            can_decide=can_decide,
            decisions=StimulusItem.Review.choices,
            open_url=self.page_url("status", study, "open") if can_decide else None,
            query=review_query(request.GET).lstrip("?"),
        )
        return TemplateResponse(request, "admin/studies/study/review.html", context)

    def review_decision_view(self, request: HttpRequest, object_id: str, item: int) -> HttpResponse:
        """POST ``decision`` (keep, drop, undecided) for one item of a draft study."""
        return require_POST(self._review_decision)(request, object_id, item)

    def _review_decision(self, request: HttpRequest, object_id: str, item: int) -> HttpResponse:
        study = self.study_or_404(request, object_id, change=True)
        found = study.items.filter(pk=item).first()
        if found is None:
            raise Http404("No such item in this study.")
        back = self.page_url("review", study) + review_query(
            QueryDict(request.POST.get("query", ""))
        )
        if (refusal := frozen_message(study, "stimulus items")) is not None:
            self.message_user(request, refusal, messages.ERROR)
            return HttpResponseRedirect(back)
        form = ReviewDecisionForm(request.POST)
        if not form.is_valid():
            self.message_user(request, "Unknown decision: choose keep or drop.", messages.ERROR)
            return HttpResponseRedirect(back)
        form.save(found)
        label = found.get_review_display().lower()
        self.message_user(request, f"Item {found.key}: {label}.", messages.SUCCESS)
        return HttpResponseRedirect(f"{back}#item-{found.pk}")
