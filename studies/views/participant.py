"""The participant pages. All state is on the server: every page is derived from the
participant's stage and current trial, every form posts, is checked by :mod:`studies.flow`,
and redirects back to the participant's page (so reload and back resume where they were)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from studies import flow
from studies.flow import FlowError, Recruitment
from studies.models import Invite, Participant, ParticipantGroup, Study, Trial

SESSION_KEY = "participants"


def problem(
    request: HttpRequest, error: FlowError, participant: Participant | None = None
) -> HttpResponse:
    """A clear page for a refused request, with a way back when there is one."""
    context = {"title": error.title, "message": error.message, "participant": participant}
    return render(request, "participant/problem.html", context, status=error.status)


@require_http_methods(["GET", "POST"])
def study_link(request: HttpRequest, study: str) -> HttpResponse:
    """The study's public link: the group is asked after consent (or is the only one)."""
    return _landing(request, _find_study(study))


@require_http_methods(["GET", "POST"])
def group_link(request: HttpRequest, study: str, group: str) -> HttpResponse:
    """A group's public link."""
    found = _find_study(study)
    chosen = ParticipantGroup.objects.filter(study=found, slug=group).first()
    if chosen is None:
        return problem(request, FlowError(404, "Unknown link", "Please check the link."))
    return _landing(request, found, group=chosen)


@require_http_methods(["GET", "POST"])
def invite_link(request: HttpRequest, token: str) -> HttpResponse:
    """A personal invitation; using it again resumes its participant."""
    invite = Invite.objects.select_related("study", "group").filter(token=token).first()
    if invite is None:
        return problem(request, FlowError(404, "Unknown link", "Please check the link."))
    used = Participant.objects.filter(invite=invite).first()
    if used is not None:
        return _to_participant(request, used)
    if invite.is_expired:
        error = FlowError(410, "This link has expired", "Please contact the researcher.")
        return problem(request, error)
    if invite.used_at is not None:
        error = FlowError(410, "This link was already used", "Please contact the researcher.")
        return problem(request, error)
    return _landing(request, invite.study, invite=invite)


def _find_study(slug: str) -> Study:
    return get_object_or_404(Study, slug=slug)


def _landing(
    request: HttpRequest,
    study: Study,
    group: ParticipantGroup | None = None,
    invite: Invite | None = None,
) -> HttpResponse:
    """Consent: agreeing creates the participant; declining stores only the refusal."""
    try:
        flow.require_open(study)
    except FlowError as error:
        return problem(request, error)
    recruitment = Recruitment.from_query(request.GET)
    returning = recruitment.returning_participant(study) if recruitment else None
    if returning is None and recruitment is None:
        returning = _remembered(request, study)
    if returning is not None:
        return _to_participant(request, returning)
    if request.method == "GET":
        return render(request, "participant/consent.html", {"study": study})
    try:
        if request.POST.get("decision") == "agree":
            participant = flow.consent(study, group, invite, recruitment)
            return _to_participant(request, participant)
        if request.POST.get("decision") == "decline":
            flow.decline(study)
            return render(request, "participant/declined.html", {"study": study})
        raise FlowError(400, "Please choose", "Choose whether you agree to take part.")
    except FlowError as error:
        return problem(request, error)


def _remembered(request: HttpRequest, study: Study) -> Participant | None:
    """The participant this browser already is in ``study`` (a reloaded or reopened link)."""
    token = request.session.get(SESSION_KEY, {}).get(str(study.pk))
    return Participant.objects.filter(token=token, study=study).first() if token else None


def _to_participant(request: HttpRequest, participant: Participant) -> HttpResponseRedirect:
    remembered = request.session.get(SESSION_KEY, {})
    if remembered.get(str(participant.study_id)) != participant.token:
        request.session[SESSION_KEY] = {**remembered, str(participant.study_id): participant.token}
    return HttpResponseRedirect(reverse("studies:participant", args=[participant.token]))


def participant_view(
    handler: Callable[[HttpRequest, Participant], HttpResponse],
) -> Callable[[HttpRequest, str], HttpResponse]:
    """Find the participant of the URL's token and turn refusals into clear pages."""

    @wraps(handler)
    def view(request: HttpRequest, token: str) -> HttpResponse:
        participant = (
            Participant.objects.select_related("study", "group", "condition")
            .filter(token=token)
            .first()
        )
        if participant is None:
            return problem(request, FlowError(404, "Unknown link", "Please check the link."))
        try:
            return handler(request, participant)
        except FlowError as error:
            return problem(request, error, participant)

    return view


@require_http_methods(["GET"])
@never_cache
@participant_view
def participant_page(request: HttpRequest, participant: Participant) -> HttpResponse:
    """Whatever the participant is at now."""
    study = participant.study
    if participant.stage == Participant.Stage.DEBRIEF:
        return render(request, "participant/debrief.html", {"study": study})
    flow.touch(participant)
    context: dict = {"study": study, "participant": participant}
    if participant.stage == Participant.Stage.GROUP:
        context["groups"] = study.groups.all()
        return render(request, "participant/group.html", context)
    if participant.stage == Participant.Stage.INSTRUCTIONS:
        context["images"] = study.instruction_images.all()
        return render(request, "participant/instructions.html", context)
    trial = flow.current_trial(participant)
    context.update(trial_context(trial))
    if trial.answered:
        return render(request, "participant/feedback.html", context)
    flow.show(trial)
    return render(request, "participant/trial.html", context)


def trial_context(trial: Trial) -> dict:
    """What a trial page shows: pictures by position, labels in the drawn order. The classes
    behind left/right are only named once the trial is answered (training feedback)."""
    participant = trial.participant
    counts = participant.trials.order_by().aggregate(
        total=Count("pk"), training=Count("pk", filter=Q(block=Trial.Block.TRAINING))
    )
    total, training = counts["total"], counts["training"]
    is_training = trial.block == Trial.Block.TRAINING
    context = {
        "trial": trial,
        "labels": [
            (1, trial.item.class_name(trial.label_first)),
            (2, trial.item.class_name(trial.label_second)),
        ],
        "shows_cluster_map": trial.condition.shows_cluster_map,
        "confidence_levels": flow.CONFIDENCE_LEVELS.items(),
        "block_number": trial.position + 1 - (0 if is_training else training),
        "block_size": training if is_training else total - training,
    }
    if trial.answered:
        context["correct_left"] = trial.item.class_name(trial.heatmap_left)
        context["correct_right"] = trial.item.class_name(trial.heatmap_right)
        context["answer_left"] = trial.item.class_name(trial.answer_left)
        context["answer_right"] = trial.item.class_name(trial.answer_right)
    return context


@require_POST
@participant_view
def choose_group(request: HttpRequest, participant: Participant) -> HttpResponse:
    flow.choose_group(participant, request.POST.get("group", ""))
    return _to_participant(request, participant)


@require_POST
@participant_view
def start_trials(request: HttpRequest, participant: Participant) -> HttpResponse:
    flow.finish_instructions(participant)
    return _to_participant(request, participant)


@require_POST
@participant_view
def answer(request: HttpRequest, participant: Participant) -> HttpResponse:
    flow.submit(participant, request.POST.get("trial", ""), request.POST.dict())
    return _to_participant(request, participant)


@require_POST
@participant_view
def continue_after_feedback(request: HttpRequest, participant: Participant) -> HttpResponse:
    flow.acknowledge_feedback(participant, request.POST.get("trial", ""))
    return _to_participant(request, participant)
