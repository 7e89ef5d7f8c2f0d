"""Counting related rows in one query without multiplying joins."""

from __future__ import annotations

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce


def count_of(related: QuerySet, link: str) -> Coalesce:
    """An annotation counting the rows of ``related`` whose ``link`` is the outer row.

    A subquery per count, so that several counts on one queryset do not multiply each other
    the way several ``Count`` joins would.
    """
    counted = (
        related.filter(**{link: OuterRef("pk")})
        .order_by()
        .values(link)
        .annotate(total=Count("pk"))
        .values("total")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))
