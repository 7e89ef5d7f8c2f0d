"""The client's address for login throttling (django-axes' ``AXES_CLIENT_IP_CALLABLE``).

Behind a reverse proxy every request comes from the proxy's address, so locking out "the
address" after failed logins would lock out everyone. ``CWOX_CLIENT_IP_HEADER`` names the
request header in which the proxy puts the client's address (e.g. ``X-Real-IP``; the proxy
must overwrite any value the client sent); unset, the connection's address is used.
"""

from __future__ import annotations

import os

from django.http import HttpRequest


def header_key(header: str) -> str:
    """The ``request.META`` key of an HTTP header name (``X-Real-IP`` → ``HTTP_X_REAL_IP``)."""
    return "HTTP_" + header.strip().upper().replace("-", "_")


CLIENT_IP_KEY = (
    header_key(os.environ["CWOX_CLIENT_IP_HEADER"])
    if os.environ.get("CWOX_CLIENT_IP_HEADER", "").strip()
    else "REMOTE_ADDR"
)


def client_address(request: HttpRequest) -> str:
    """The client's address as the deployment sees it (see the module's docstring)."""
    return request.META.get(CLIENT_IP_KEY, "").split(",")[0].strip() or request.META.get(
        "REMOTE_ADDR", ""
    )
