"""Background jobs in the admin: the job list and pages (read-only: state, progress with ETA,
errors, chunks and their workers), "Cancel" and "Re-run" actions, and the study actions that
start jobs ("Pregenerate heatmaps", "Evaluate faithfulness") after a small form.

Without a broker, a job started here runs in a background thread of the web server (so the
demo needs nothing else running); it stops with the server, and "Re-run" continues it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from studies.admin.common import pretty_json
from studies.jobs.control import JobError, cancel_job, rerun_job, start_job
from studies.jobs.dispatch import DispatchError
from studies.jobs.forms import EvaluateForm, JobForm, PregenerateForm
from studies.jobs.kinds import JobInputError
from studies.jobs.models import Job, JobChunk
from studies.models import Study

ERRORS_SHOWN = 50
STARTED = {
    "queued": "sent to the workers",
    "thread": "running in the web server (no broker is configured: it stops if the server "
    "stops; “Re-run” then continues it)",
}

JOB_FORM_TEMPLATE = "admin/studies/job_form.html"


def _lines(messages: Iterable[str]) -> SafeString | str:
    """Messages one per line (escaped), or a dash when there are none."""
    return format_html_join(mark_safe("<br>"), "{}", ((m,) for m in messages)) or "–"


class JobChunkInline(admin.TabularInline):
    model = JobChunk
    extra = 0
    can_delete = False
    fields = ("label", "state", "items", "attempts", "worker", "started_at", "finished_at")
    fields += ("error_list",)
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Job | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Job | None = None) -> bool:
        return False

    @admin.display(description="items")
    def items(self, chunk: JobChunk) -> str:
        if chunk.step != JobChunk.Step.ITEMS:
            return "–"
        shown = ", ".join(chunk.item_ids[:5]) + (" …" if len(chunk.item_ids) > 5 else "")
        return f"{chunk.items_done} / {len(chunk.item_ids)}: {shown}"

    @admin.display(description="errors")
    def error_list(self, chunk: JobChunk) -> SafeString | str:
        return _lines(chunk.errors)


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("__str__", "state_label", "progress_bar", "error_count", "created_at")
    list_display += ("finished_at",)
    list_filter = ("state", "kind")
    search_fields = ("study__title", "study__slug")
    actions = ("cancel_jobs", "rerun_jobs")
    inlines = (JobChunkInline,)
    fields = ("kind", "study", "state_label", "progress_bar", "error_list", "parameters_json")
    fields += ("result_json", "tables", "created_by", "created_at", "started_at", "finished_at")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Job]:
        return super().get_queryset(request).with_progress().select_related("study")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # jobs start from a study's actions or ``manage.py run_job``

    def has_change_permission(self, request: HttpRequest, obj: Job | None = None) -> bool:
        # Job pages are read-only; the list's actions need the change permission.
        return obj is None and super().has_change_permission(request)

    @admin.display(description="state", ordering="state")
    def state_label(self, job: Job) -> str:
        label = job.get_state_display()
        if job.cancel_requested and not job.is_finished:
            label += " (cancelling)"
        elif job.stalled():
            label += " (stalled: no worker heartbeat; re-run to hand it to another worker)"
        return label

    @admin.display(description="progress")
    def progress_bar(self, job: Job) -> SafeString:
        progress = job.progress()
        return format_html(
            '<progress value="{}" max="{}"></progress> {}',
            progress.done,
            progress.total or 1,
            progress.text(),
        )

    @admin.display(description="errors")
    def error_count(self, job: Job) -> int:
        return sum(len(errors) for errors in job.chunks.values_list("errors", flat=True))

    @admin.display(description="errors")
    def error_list(self, job: Job) -> SafeString | str:
        errors = job.errors()
        more = [f"… and {len(errors) - ERRORS_SHOWN} more"] if len(errors) > ERRORS_SHOWN else []
        return _lines(errors[:ERRORS_SHOWN] + more)

    @admin.display(description="parameters")
    def parameters_json(self, job: Job) -> SafeString:
        return pretty_json(job.parameters)

    @admin.display(description="result")
    def result_json(self, job: Job) -> SafeString:
        return pretty_json(job.result)

    @admin.display(description="tables")
    def tables(self, job: Job) -> SafeString | str:
        """An evaluation's Tables 1–3 (``tables.md`` in its output folder), once written."""
        out = job.result.get("out") if isinstance(job.result, dict) else None
        path = Path(out) / "tables.md" if out else None
        if path is None or not path.is_file():
            return "–"
        return format_html('<pre class="json">{}</pre>', path.read_text(encoding="utf-8"))

    @admin.action(description="Cancel selected jobs (between chunks)", permissions=("change",))
    def cancel_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        for job in queryset:
            try:
                job = cancel_job(job)
            except JobError as error:
                self.message_user(request, str(error), messages.WARNING)
            else:
                state = job.get_state_display().lower()
                self.message_user(request, f"{job}: cancel requested ({state}).")

    @admin.action(
        description="Re-run selected jobs (only unfinished chunks)", permissions=("change",)
    )
    def rerun_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        for job in queryset:
            try:
                job = rerun_job(job)
                how = start_job(job)
            except (JobError, DispatchError) as error:
                self.message_user(request, str(error), messages.WARNING)
            else:
                self.message_user(request, f"{job}: {STARTED[how]}.")


def job_url(job: Job) -> str:
    return reverse("admin:studies_job_change", args=[job.pk])


def _start_jobs(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet[Study],
    form_class: type[JobForm],
    title: str,
    intro: str,
) -> HttpResponse | None:
    """An action with a form: show it for the selected studies; once submitted and valid,
    create and start one job per study and go back to the study list."""
    studies = list(queryset)
    latest = Job.objects.filter(study__in=studies, kind=Job.Kind.PREGENERATE).first()
    images = latest.parameters.get("images") if latest else None
    form = form_class(request.POST if "apply" in request.POST else None, images=images)
    if not form.is_valid():
        context = {
            **modeladmin.admin_site.each_context(request),
            "opts": modeladmin.opts,
            "title": title,
            "intro": intro,
            "form": form,
            "studies": studies,
            "checkbox": helpers.ACTION_CHECKBOX_NAME,
            "action": request.POST.get("action", ""),
        }
        return TemplateResponse(request, JOB_FORM_TEMPLATE, context)
    for study in studies:
        try:
            job = form.create(study, request.user)
            how = start_job(job)
        except (JobInputError, DispatchError) as error:
            modeladmin.message_user(request, f"“{study}”: {error}", messages.ERROR)
            continue
        text = format_html('<a href="{}">{}</a>: {}.', job_url(job), job, STARTED[how])
        modeladmin.message_user(request, text, messages.SUCCESS)
    return None


@admin.action(description="Pregenerate heatmaps (background job)", permissions=("change",))
def pregenerate_heatmaps(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Study]
) -> HttpResponse | None:
    return _start_jobs(
        modeladmin,
        request,
        queryset,
        PregenerateForm,
        "Pregenerate heatmaps",
        "Chooses a confusing pair per image with the embedded classifier, computes the "
        "heatmaps of every condition's method in chunks shared by the workers, and imports "
        "them into each selected study (a draft).",
    )


@admin.action(description="Evaluate faithfulness (background job)", permissions=("change",))
def evaluate_faithfulness(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Study]
) -> HttpResponse | None:
    return _start_jobs(
        modeladmin,
        request,
        queryset,
        EvaluateForm,
        "Evaluate faithfulness",
        "CAUC and CDROP (paper Tables 1–3) of each selected study's methods on the "
        "confusing pairs of the images; the tables appear on the job's page.",
    )
