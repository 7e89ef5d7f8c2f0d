"""Form fields and a form base for input from the open internet.

Python's ``int()`` (and so Django's ``IntegerField``) reads any Unicode decimal digits
('٣' is 3), and ``str.isdigit`` is true for superscripts that ``int()`` refuses; a browser
only ever sends ASCII digits, so :class:`AsciiIntegerField` takes nothing else.
:class:`SingleValueForm` refuses a field sent twice (which value would count is ambiguous).
"""

from __future__ import annotations

import re

from django import forms
from django.http import QueryDict

ASCII_INTEGER = re.compile(r"[0-9]{1,18}")
"""At most 18 digits: every value fits a 64-bit database integer."""


class AsciiIntegerField(forms.IntegerField):
    """A non-negative integer written with ASCII digits only (no sign, point or spaces)."""

    def to_python(self, value: object) -> int | None:
        if value in self.empty_values:
            return None
        if not isinstance(value, str) or not ASCII_INTEGER.fullmatch(value):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return int(value)


class SingleValueForm(forms.Form):
    """A form whose every field must be sent at most once."""

    def clean(self) -> dict:
        cleaned = super().clean()
        if isinstance(self.data, QueryDict):
            for name in self.fields:
                if len(self.data.getlist(name)) > 1:
                    raise forms.ValidationError(
                        f"The field {name!r} was sent more than once.", code="repeated"
                    )
        return cleaned
