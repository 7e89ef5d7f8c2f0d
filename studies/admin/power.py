"""The admin's "Power" page of a study: a form of assumptions (accuracy per group × condition,
test trials, random-effect sds, participants per cell, simulations, seed), and the simulated
power table, the participants needed for 80 % / 90 % power and the plot.

The form is submitted with GET: the page only computes (nothing is stored), so a result can be
bookmarked and reloaded. Accuracies start from the study's own analysed trials when it has
some (e.g. a pilot), otherwise the researcher types them.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.safestring import SafeString, mark_safe

from studies.admin.results import html_table
from studies.analysis import (
    DEFAULT_N_PER_CELL,
    PowerDesign,
    design_from_accuracy,
    parse_counts,
    plot_power,
    power_by_n,
    required_participants,
    simulate_power,
)
from studies.models import Study
from studies.results import DEFAULT_SD, PowerSetting, pilot_estimate, power_setting

MAX_SIMULATIONS = 5000
MAX_N = 1000


def strictly_between_0_and_1(value: float) -> None:
    """Validator: an accuracy is a probability other than 0 and 1."""
    if not 0 < value < 1:
        raise ValidationError("An accuracy must lie strictly between 0 and 1.")


class PowerForm(forms.Form):
    """The assumptions of one power simulation of a study; `design` once valid."""

    items = forms.IntegerField(min_value=1, max_value=500, help_text="Test trials per participant.")
    participant_sd = forms.FloatField(
        min_value=0,
        max_value=5,
        initial=DEFAULT_SD,
        help_text="Participant random-intercept sd on the logit scale.",
    )
    item_sd = forms.FloatField(
        min_value=0,
        max_value=5,
        initial=DEFAULT_SD,
        help_text="Item random-intercept sd on the logit scale.",
    )
    n = forms.CharField(
        label="Participants per cell",
        initial=",".join(map(str, DEFAULT_N_PER_CELL)),
        help_text="Comma-separated, each at least 2.",
    )
    simulations = forms.IntegerField(min_value=100, max_value=MAX_SIMULATIONS, initial=1000)
    seed = forms.IntegerField(min_value=0, initial=0)

    def __init__(
        self,
        setting: PowerSetting,
        *args: object,
        accuracy: dict[tuple[str, str], float] | None = None,
        **kwargs: object,
    ) -> None:
        """Fields for ``setting``'s cells, accuracies initially ``accuracy`` (e.g. a pilot's);
        after validation ``self.design`` holds the :class:`PowerDesign`."""
        super().__init__(*args, **kwargs)
        self.setting = setting
        self.fields["items"].initial = setting.items
        self.cells = {}
        for g, group in enumerate(setting.groups):
            for c, condition in enumerate(setting.conditions):
                name = f"accuracy_{g}_{c}"
                self.cells[name] = (group, condition)
                self.fields[name] = forms.FloatField(
                    label=f"Accuracy {group}: {condition}",
                    validators=[strictly_between_0_and_1],
                    initial=(accuracy or {}).get((group, condition)),
                )
        self.order_fields(list(self.cells))  # accuracies first, then the other fields

    def clean_n(self) -> list[int]:
        try:
            counts = parse_counts(self.cleaned_data["n"])
        except ValueError as error:
            raise ValidationError(str(error)) from None
        if counts[-1] > MAX_N:
            raise ValidationError(f"n: at most {MAX_N} participants per cell here.")
        return counts

    def clean(self) -> dict:
        data = super().clean()
        if self.errors:
            return data
        try:
            self.design = design_from_accuracy(
                {f"{g}:{c}": data[name] for name, (g, c) in self.cells.items()},
                conditions=self.setting.conditions,
                groups=self.setting.groups,
                items=data["items"],
                pool=max(self.setting.pool, data["items"]),
                participant_sd=data["participant_sd"],
                item_sd=data["item_sd"],
            )
        except ValueError as error:
            raise ValidationError(str(error)) from None
        return data


def _svg(figure) -> SafeString:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    svg = buffer.getvalue()
    return mark_safe(svg[svg.index("<svg") :])  # matplotlib draws text as paths


def power_results(design: PowerDesign, counts: list[int], simulations: int, seed: int) -> dict:
    """The tables (HTML) and the plot (inline SVG) of one simulation."""
    power = simulate_power(design, counts, simulations=simulations, seed=seed)
    caption = (
        f"Share of {simulations} simulated studies (seed {seed}) with a Holm-adjusted p < "
        f"{design.alpha}, by participants per cell; Monte Carlo SE at most "
        f"{float(power['mc_se'].max()):.3f}."
    )
    return {
        "power_table": html_table(power_by_n(power), caption=caption),
        "needed_table": html_table(
            required_participants(power),
            caption="Participants per cell for 80% and 90% power (empty: more than the "
            "largest n simulated).",
        ),
        "figure": _svg(plot_power(power)),
    }


def power_view(model_admin) -> Callable[[HttpRequest, str], HttpResponse]:
    """The page's view for ``model_admin`` (a study admin with the study pages)."""

    def view(request: HttpRequest, object_id: str) -> HttpResponse:
        study: Study = model_admin.study_or_404(request, object_id, change=False)
        setting = power_setting(study)
        submitted = "items" in request.GET
        estimate = None if submitted else pilot_estimate(study, variance_components=False)
        form = PowerForm(
            setting,
            request.GET if submitted else None,
            accuracy=estimate.accuracy if estimate else None,
        )
        results = {}
        if submitted and form.is_valid():
            data = form.cleaned_data
            results = power_results(form.design, data["n"], data["simulations"], data["seed"])
        context = model_admin.page_context(
            request,
            study,
            "Power",
            form=form,
            from_data=bool(estimate and estimate.accuracy),
            setting=setting,
            **results,
        )
        return TemplateResponse(request, "admin/studies/study/power.html", context)

    return view
