"""Page-number pagination for every list endpoint."""

from __future__ import annotations

from rest_framework.pagination import PageNumberPagination


class StandardPagination(PageNumberPagination):
    """100 rows a page by default; ``?page_size=`` asks for up to 1000."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
