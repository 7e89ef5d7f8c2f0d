"""The researchers' read-only REST API, served under ``/api/``.

Staff users authenticate with a token (``Authorization: Token <key>``; tokens are made in the
admin or with ``manage.py drf_create_token USER``) or with their admin session in the browser.
Every endpoint requires an authenticated staff user; the participant pages are not part of it.

- :mod:`studies.api.urls` — the router and the OpenAPI schema (``/api/schema/``, ``/api/docs/``).
- :mod:`studies.api.views` — one read-only viewset per resource.
- :mod:`studies.api.serializers` — what each resource shows (never participant tokens, external
  ids or media URLs: stored files are named by their relative path only).
- :mod:`studies.api.filters` — query parameters (every resource is filterable by study).
- :mod:`studies.api.pagination` — page-number pagination.
"""
