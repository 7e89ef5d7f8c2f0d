"""The participant pages. All state is on the server: every page is derived from the
participant's stage and current trial, every form posts, is validated by a form of
:mod:`studies.forms.participant`, carried out by :mod:`studies.flow`, and redirects back to
the participant's page (so reload, back and a replayed form resume where they were)."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import wraps

from django.contrib.sessions.models import Session
from django.db import transaction
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from studies import flow
from studies.flow import FlowError, Recruitment
from studies.forms.fields import SingleValueForm
from studies.forms.participant import (
    AnswerForm,
    ConsentForm,
    ContinueForm,
    GroupForm,
    RecruitmentForm,
    refusal,
)
from studies.models import Invite, Participant, ParticipantGroup, Study, Trial

SESSION_KEY = "participants"
TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""What a participant or invite token can look like (``secrets.token_urlsafe``)."""
UNKNOWN_LINK = FlowError(404, "Unknown link", "Please check the link.")


def problem(
    request: HttpRequest, error: FlowError, participant: Participant | None = None
) -> HttpResponse:
    """A clear page for a refused request, with a way back when there is one."""
    context = {"title": error.title, "message": error.message, "participant": participant}
    return render(request, "participant/problem.html", context, status=error.status)


def refusals(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Turn the flow's refusals into clear pages."""

    @wraps(view)
    def refusing(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except FlowError as error:
            return problem(request, error)

    return refusing


@require_http_methods(["GET", "POST"])
@refusals
def study_link(request: HttpRequest, study: str) -> HttpResponse:
    """The study's public link: the group is asked after consent (or is the only one)."""
    return _landing(request, _find_study(study))


@require_http_methods(["GET", "POST"])
@refusals
def group_link(request: HttpRequest, study: str, group: str) -> HttpResponse:
    """A group's public link."""
    found = _find_study(study)
    chosen = ParticipantGroup.objects.filter(study=found, slug=group).first()
    if chosen is None:
        raise UNKNOWN_LINK
    return _landing(request, found, group=chosen)


@require_http_methods(["GET", "POST"])
@refusals
def invite_link(request: HttpRequest, token: str) -> HttpResponse:
    """A personal invitation; using it again resumes its participant."""
    if not TOKEN.fullmatch(token):
        raise UNKNOWN_LINK
    invite = Invite.objects.select_related("study", "group").filter(token=token).first()
    if invite is None:
        raise UNKNOWN_LINK
    used = Participant.objects.filter(invite=invite).first()
    if used is not None:
        return _to_participant(request, used)
    if invite.is_expired:
        raise FlowError(410, "This link has expired", "Please contact the researcher.")
    if invite.used_at is not None:
        raise FlowError(410, "This link was already used", "Please contact the researcher.")
    return _landing(request, invite.study, invite=invite)


def _find_study(slug: str) -> Study:
    study = Study.objects.filter(slug=slug).first()
    if study is None:
        raise UNKNOWN_LINK
    return study


def _landing(
    request: HttpRequest,
    study: Study,
    group: ParticipantGroup | None = None,
    invite: Invite | None = None,
) -> HttpResponse:
    """Consent: agreeing creates the participant; declining stores only the refusal."""
    flow.require_open(study)
    ids = RecruitmentForm(request.GET)
    if not ids.is_valid():
        raise refusal(ids)
    recruitment = Recruitment.from_ids(ids.cleaned_data)
    returning = recruitment.returning_participant(study) if recruitment else None
    if returning is None and recruitment is None:
        returning = _remembered(request, study)
    if returning is not None:
        return _to_participant(request, returning)
    if request.method == "GET":
        # A session from the consent page on, so that a double click on "I agree" is one
        # consent (see _agree).
        request.session.setdefault(SESSION_KEY, {})
        return render(request, "participant/consent.html", {"study": study})
    form = ConsentForm(request.POST)
    if not form.is_valid():
        raise refusal(form)
    if form.cleaned_data["decision"] == "decline":
        flow.decline(study)
        return render(request, "participant/declined.html", {"study": study})
    return _agree(request, study, group, invite, recruitment)


def _agree(
    request: HttpRequest,
    study: Study,
    group: ParticipantGroup | None,
    invite: Invite | None,
    recruitment: Recruitment | None,
) -> HttpResponse:
    """Consent once per browser session: the session's row is locked while the participant
    is made and remembered in it, so simultaneous agreements from one browser (a double
    click, two tabs) make one participant. Needs a database-backed session engine."""
    key = request.session.session_key
    with transaction.atomic():
        if key is not None:
            list(Session.objects.select_for_update().filter(session_key=key))
            stored = request.session.__class__(session_key=key).load()
            token = stored.get(SESSION_KEY, {}).get(str(study.pk))
            if token and (known := Participant.objects.filter(token=token, study=study).first()):
                return _to_participant(request, known)
        participant = flow.consent(study, group, invite, recruitment)
        response = _to_participant(request, participant)
        if key is not None:
            request.session.save()
    return response


def _remembered(request: HttpRequest, study: Study) -> Participant | None:
    """The participant this browser already is in ``study`` (a reloaded or reopened link)."""
    token = request.session.get(SESSION_KEY, {}).get(str(study.pk))
    return Participant.objects.filter(token=token, study=study).first() if token else None


def _to_participant(request: HttpRequest, participant: Participant) -> HttpResponseRedirect:
    """To the participant's page, remembering them in this browser's session (a reopened
    study link resumes)."""
    remembered = request.session.get(SESSION_KEY, {})
    if remembered.get(str(participant.study_id)) != participant.token:
        request.session[SESSION_KEY] = {**remembered, str(participant.study_id): participant.token}
    return _next_page(participant)


def _next_page(participant: Participant) -> HttpResponseRedirect:
    """To the participant's page (after a form of that page: the session is left alone)."""
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
            if TOKEN.fullmatch(token)
            else None
        )
        if participant is None:
            return problem(request, UNKNOWN_LINK)
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


def _valid(form: SingleValueForm) -> dict:
    """The cleaned data of a valid ``form``; an invalid one is refused with a clear page."""
    if not form.is_valid():
        raise refusal(form)
    return form.cleaned_data


@require_POST
@participant_view
def choose_group(request: HttpRequest, participant: Participant) -> HttpResponse:
    groups = {group.slug: group for group in participant.study.groups.all()}
    chosen = _valid(GroupForm(request.POST, list(groups)))["group"]
    flow.choose_group(participant, groups[chosen])
    return _next_page(participant)


@require_POST
@participant_view
def start_trials(request: HttpRequest, participant: Participant) -> HttpResponse:
    flow.finish_instructions(participant)
    return _next_page(participant)


@require_POST
@participant_view
def answer(request: HttpRequest, participant: Participant) -> HttpResponse:
    form = AnswerForm(request.POST)
    flow.submit(participant, _valid(form)["trial"], form.answer())
    return _next_page(participant)


@require_POST
@participant_view
def continue_after_feedback(request: HttpRequest, participant: Participant) -> HttpResponse:
    flow.acknowledge_feedback(participant, _valid(ContinueForm(request.POST))["trial"])
    return _next_page(participant)
