"""The participant forms: consent, the recruitment ids of a link, the group question, a
trial's answer and the "continue" after feedback.

Each form's :meth:`~django.forms.Form.is_valid` is the only check of what the browser sent;
a refused form becomes a clear 4xx page through :func:`refusal`, which names the first
problem in words a participant understands.
"""

from __future__ import annotations

from django import forms

from studies.flow import CONFIDENCE_LEVELS, MAX_CLIENT_RESPONSE_MS, Answer, FlowError
from studies.forms.fields import AsciiIntegerField, SingleValueForm

LABEL_POSITIONS = [("1", "first label"), ("2", "second label")]
EXTERNAL_ID_LENGTH = 128


class ConsentForm(SingleValueForm):
    decision = forms.ChoiceField(choices=[("agree", "agree"), ("decline", "decline")])

    problems = {"decision": ("Please choose", "Choose whether you agree to take part.")}


class RecruitmentForm(SingleValueForm):
    """Ids a recruitment platform puts in a study link's query (all optional)."""

    PROLIFIC_PID = forms.CharField(required=False, max_length=EXTERNAL_ID_LENGTH)
    STUDY_ID = forms.CharField(required=False, max_length=EXTERNAL_ID_LENGTH)
    SESSION_ID = forms.CharField(required=False, max_length=EXTERNAL_ID_LENGTH)
    external_id = forms.CharField(required=False, max_length=EXTERNAL_ID_LENGTH)

    problems = {
        name: ("This link is malformed", "Please check the link you were given.")
        for name in ("PROLIFIC_PID", "STUDY_ID", "SESSION_ID", "external_id")
    }


class GroupForm(SingleValueForm):
    """The group question; the choices are the study's group slugs."""

    group = forms.ChoiceField()

    problems = {"group": ("Please choose one of the answers", "The answer was not recognised.")}

    def __init__(self, data, slugs: list[str]):
        super().__init__(data)
        self.fields["group"].choices = [(slug, slug) for slug in slugs]


class TrialForm(SingleValueForm):
    """A form about one of the participant's trials."""

    trial = AsciiIntegerField(min_value=1)

    problems = {"trial": ("Trial not found", "This trial is not one of yours.")}


class ContinueForm(TrialForm):
    """Seen a training trial's feedback."""


class AnswerForm(TrialForm):
    """A trial's answer: the label positions (1 or 2, display order) matched to the left and
    right heatmaps, the confidence 1-5 and the browser's response time in milliseconds."""

    left = forms.TypedChoiceField(choices=LABEL_POSITIONS, coerce=int)
    right = forms.TypedChoiceField(choices=LABEL_POSITIONS, coerce=int)
    confidence = forms.TypedChoiceField(
        choices=[(str(level), words) for level, words in CONFIDENCE_LEVELS.items()], coerce=int
    )
    client_ms = AsciiIntegerField(required=False, max_value=MAX_CLIENT_RESPONSE_MS)

    both = ("Please match both heatmaps", "Choose a label for each of the two heatmaps.")
    problems = {
        **TrialForm.problems,
        "left": both,
        "right": both,
        "confidence": ("Please rate your confidence", "Choose a confidence from 1 to 5."),
        "client_ms": ("Invalid submission", "The response time was malformed."),
        "same": (
            "Each label goes with one heatmap",
            "You gave both heatmaps the same label; give each heatmap a different one.",
        ),
    }

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("left") is not None and cleaned.get("left") == cleaned.get("right"):
            self.add_error(None, forms.ValidationError("same label", code="same"))
        return cleaned

    def answer(self) -> Answer:
        """The validated answer (call after :meth:`is_valid`)."""
        data = self.cleaned_data
        return Answer(data["left"], data["right"], data["confidence"], data["client_ms"])


def refusal(form: SingleValueForm) -> FlowError:
    """The page for an invalid ``form``: the problem of its first invalid field, or of the
    first error's code (a trial id that is not a number is no trial of the participant's:
    404)."""
    name, errors = next(iter(form.errors.as_data().items()))
    key = name if name in form.problems else errors[0].code
    default = ("Invalid submission", " ".join(errors[0].messages))
    title, message = form.problems.get(key, default)
    return FlowError(404 if key == "trial" else 400, title, message)
