"""Participant links as the researcher hands them out: absolute URLs with copy buttons."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from studies.links import PROLIFIC_QUERY, participant_links
from studies.models import Invite, Study


def copy_field(url: str, label: str) -> SafeString:
    """``url`` in a read-only text box with a keyboard-accessible copy button (static/js/copy.js).

    ``url`` may be relative: the button copies it resolved against the page's address.
    """
    return format_html(
        '<span class="copy-field"><input type="text" readonly value="{}" aria-label="{}" '
        'class="vTextField copy-source"> <button type="button" class="button copy-button" '
        'data-copy="{}" aria-label="Copy {}">Copy</button></span>',
        url,
        label,
        url,
        label,
    )


@dataclass(frozen=True)
class PublicLink:
    """A public participant link of a study, plain and with Prolific's parameters."""

    label: str
    url: str

    @property
    def field(self) -> SafeString:
        return copy_field(self.url, self.label)

    @property
    def prolific_field(self) -> SafeString:
        return copy_field(self.url + PROLIFIC_QUERY, f"{self.label} for Prolific")


def public_links(request: HttpRequest, study: Study) -> list[PublicLink]:
    """The study link (participants answer the group question) and one link per group."""
    base = request.build_absolute_uri("/")
    return [PublicLink(label, url) for label, url in participant_links(study, base)]


def invite_url(request: HttpRequest, invite: Invite) -> str:
    """The absolute personal link of ``invite``."""
    return request.build_absolute_uri(reverse("studies:invite-link", args=[invite.token]))


def invite_state(invite: Invite) -> str:
    """'used', 'expired' or 'unused'."""
    if invite.used_at is not None:
        return "used"
    return "expired" if invite.is_expired else "unused"
