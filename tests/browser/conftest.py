"""Browser tests: Playwright drives Debian's Chromium (``/usr/bin/chromium``) against
pytest-django's live server. Nothing is downloaded: Playwright's own browsers are not used.

The browser is launched once per session. While Playwright's sync API is started, the main
thread has a running asyncio event loop (Playwright runs its loop in a greenlet), so Django would
treat every ORM call of the test itself (creating the study, reading trials, the
``transactional_db`` flush) as made "from an async context" and raise
``SynchronousOnlyOperation``. Nothing here is actually asynchronous: the ORM calls run in the
test's own thread, one at a time, between Playwright calls; the server answers in its own thread.
So ``DJANGO_ALLOW_ASYNC_UNSAFE`` is set while the browser runs, and restored afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
TIMEOUT_MS = 15_000


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "browser: drives Debian's Chromium against a live server (Playwright)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(reason=f"Chromium is not installed at {CHROMIUM}")
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Stimulus files of each test under a temporary folder (the live server reads the same
    settings object, so it serves them from there)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(scope="session")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def new_page(browser, live_server, transactional_db) -> Iterator[Callable]:
    """``new_page(**context_options)``: a page in a fresh browser context (its own cookies, so
    its own participant) whose relative URLs go to the live server."""
    contexts = []

    def make(**options):
        options.setdefault("viewport", {"width": 1280, "height": 900})
        context = browser.new_context(base_url=live_server.url, **options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
