"""Forms of the researcher admin's study pages and inlines."""

from __future__ import annotations

from django import forms
from django.utils import timezone

from studies.models import Invite, StimulusItem, Study

MAX_INVITES = 1000


class PrefilledInlineForm(forms.ModelForm):
    """An inline row whose initial values are a suggestion to keep.

    Django skips a new row that is unchanged from its initial values; a pre-filled row is
    instead saved as long as any of its ``key_fields`` holds something, and skipped when the
    researcher clears them (or removes the row).
    """

    key_fields: tuple[str, ...] = ()

    def has_changed(self) -> bool:
        if self.is_bound and self.initial and self.instance._state.adding:
            return any(str(self.data.get(self.add_prefix(f), "")).strip() for f in self.key_fields)
        return super().has_changed()


class ConditionForm(PrefilledInlineForm):
    key_fields = ("name", "method")


class ParticipantGroupForm(PrefilledInlineForm):
    key_fields = ("name", "slug")


class ImportStimuliForm(forms.Form):
    """A ZIP of an engine manifest folder (``docs/stimulus-manifest.md``)."""

    archive = forms.FileField(
        label="Manifest ZIP",
        help_text="A ZIP of the folder that `python -m explain_engine pregenerate` wrote: "
        "manifest.json and every file it names.",
    )
    training = forms.IntegerField(
        label="Training items",
        min_value=0,
        initial=0,
        help_text="For items without a role in the manifest: the first N (in manifest order) "
        "become training items, the rest test items.",
    )


class CreateInvitesForm(forms.Form):
    """Create personal invite links for one study."""

    count = forms.IntegerField(
        label="Number of invites", min_value=1, max_value=MAX_INVITES, initial=10
    )
    group = forms.ModelChoiceField(
        queryset=None,
        required=False,
        empty_label="None: ask the group question after consent",
        help_text="Pre-assign everyone invited through these links to this group.",
    )
    expires_at = forms.DateTimeField(
        label="Expires at",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="Optional; in the server's time zone. Unused links stop working then.",
    )
    note = forms.CharField(max_length=200, required=False, help_text="For you only.")

    def __init__(self, study: Study, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.study = study
        self.fields["group"].queryset = study.groups.all()

    def clean_expires_at(self):
        expires = self.cleaned_data["expires_at"]
        if expires is not None and expires <= timezone.now():
            raise forms.ValidationError("Choose a time in the future.")
        return expires

    def create(self) -> list[Invite]:
        """Create the invites of a valid form and return them."""
        data = self.cleaned_data
        return Invite.objects.bulk_create(
            Invite(
                study=self.study,
                group=data["group"],
                expires_at=data["expires_at"],
                note=data["note"],
            )
            for _ in range(data["count"])
        )


class ReviewDecisionForm(forms.Form):
    """The keep/drop decision on one item (the buttons post ``decision``)."""

    decision = forms.ChoiceField(choices=StimulusItem.Review.choices)

    def save(self, item: StimulusItem) -> StimulusItem:
        item.review = self.cleaned_data["decision"]
        item.reviewed_at = None if item.review == StimulusItem.Review.UNDECIDED else timezone.now()
        item.save(update_fields=["review", "reviewed_at"])
        return item
