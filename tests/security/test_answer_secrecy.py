"""Before a trial is answered nothing that reaches the browser tells which heatmap is which,
or which condition the participant is in: pages, redirects, cookies, picture headers and
picture bytes, for participants of every condition."""

from __future__ import annotations

import re

from tests.security.conftest import join
from tests.server.test_picture_privacy import PIXEL_CHUNKS, png_chunks

SECRETS = ("swox", "cwox", "1sb", "-a.png", "-b.png", "/media/", "heatmap_")
"""(The CWOX-2s pages show a cluster map, so its URL tells nothing the page does not.)"""


def _participants(study, browser) -> list[tuple]:
    """(browser, participant) for one participant per condition and group."""
    joined = []
    for group in ("expert", "non-expert"):
        for _ in study.conditions.all():
            client = browser()
            joined.append((client, join(client, study, group)))
    assert {p.condition.method for _, p in joined} == {"swox", "cwox-1sb", "cwox-2s"}
    return joined


RANDOM_VALUE = re.compile(r"[A-Za-z0-9_-]{32,}")
"""Tokens, CSRF values and session keys: random, so they may contain e.g. "1sb" by chance."""


def _secret_free(text: str) -> None:
    lowered = RANDOM_VALUE.sub("", text).lower().replace("cwox studies", "")
    for secret in SECRETS:
        assert secret not in lowered, secret


def test_pages_redirects_and_cookies_name_no_answer_or_condition(study, browser):
    for client, participant in _participants(study, browser):
        page = client.get(f"/p/{participant.token}/")
        assert page.status_code == 200
        _secret_free(page.text)
        for name, value in client.cookies.items():
            _secret_free(f"{name}={value}")
        for header, value in page.headers.items():
            _secret_free(f"{header}: {value}")


def test_heatmap_responses_differ_only_in_their_pixels(study, browser):
    """Every header of every left/right/cluster response is the same in every condition
    (Content-Length follows from the pixels), and the bytes hold only pixel chunks."""
    seen: dict[str, str] | None = None
    for client, participant in _participants(study, browser):
        pictures = (
            ("left", "right", "cluster")
            if participant.condition.shows_cluster_map
            else (
                "left",
                "right",
            )
        )
        for trial in participant.trials.all():
            for picture in pictures:
                response = client.get(f"/p/{participant.token}/t/{trial.pk}/{picture}.png")
                assert response.status_code == 200
                headers = {
                    k: v for k, v in response.headers.items() if k not in ("content-length", "date")
                }
                seen = seen or headers
                assert headers == seen
                assert int(response.headers["content-length"]) == len(response.content)
                assert set(png_chunks(response.content)) <= PIXEL_CHUNKS
                assert not response.cookies
    assert seen is not None and "content-disposition" not in seen and "etag" not in seen
    assert "last-modified" not in seen
