"""The forms behind the study admin's job actions: what a researcher chooses before a job
starts ("Pregenerate heatmaps", "Evaluate faithfulness"), validated, and the job they create.

Folders are paths on the server: the web server checks that the folder exists, and every
worker must reach it at the same path (shared storage, see ``docs/background-jobs.md``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from explain_engine.errors import EngineInputError
from explain_engine.offline_jobs import EvaluationSettings
from explain_engine.pairs import STUDY_PAIR_RULES
from explain_engine.registry import EXPLAINERS, method_names
from explain_engine.settings import ExplainerSpec, choose_explainer
from studies.jobs.control import create_job, create_pregeneration
from studies.jobs.engine_commands import WORK, command_parameters
from studies.jobs.models import Job
from studies.management.pair_options import pair_rules
from studies.models import Study


def explainer_choices() -> list[tuple[str, str]]:
    """(name, description) of every registered base explainer."""
    return [(name, cls.description) for name, cls in EXPLAINERS.classes().items()]


class FolderField(forms.CharField):
    """A folder on the server, returned as an absolute path."""

    def clean(self, value: Any) -> str:
        text = super().clean(value)
        path = Path(text).expanduser()
        if not path.is_absolute():
            raise forms.ValidationError("Give an absolute path, e.g. /data/study-images.")
        if not path.is_dir():
            raise forms.ValidationError(f"{path} is not a folder on the server.")
        return str(path.resolve())


class JobForm(forms.Form):
    """A form whose :meth:`create` makes one job per selected study."""

    images = FolderField(
        label="Images folder",
        help_text="A folder on the server (searched recursively) that every worker reaches "
        "at this path.",
    )
    device = forms.CharField(initial="auto", help_text="auto, cpu or cuda.")

    def __init__(self, *args: Any, images: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if images:
            self.fields["images"].initial = images

    def create(self, study: Study, user: AbstractBaseUser | None) -> Job:
        raise NotImplementedError


class PregenerateForm(JobForm):
    """Pairs and heatmaps of an image folder for a draft study, in chunks."""

    explainer = forms.ChoiceField(choices=explainer_choices, initial="gradcam")
    rise_masks = forms.CharField(
        required=False,
        label="Masks (stage 1,stage 2)",
        help_text="For explainers with masks (RISE), e.g. 5000,3000 (the default).",
    )
    floor = forms.FloatField(
        min_value=0.0,
        max_value=1.0,
        initial=STUDY_PAIR_RULES.floor,
        help_text="Least P(c|x) of both classes of a pair.",
    )
    per_pair = forms.IntegerField(
        min_value=1, initial=STUDY_PAIR_RULES.per_pair, help_text="Items per class pair."
    )
    labels = forms.CharField(
        required=False,
        label="Ground truth",
        help_text="'folder' (the images' folder names are class indices or names), or the "
        "path on the server of a CSV file with columns file,class_index; empty: none.",
    )
    require_truth = forms.BooleanField(
        required=False,
        label="Ground truth required",
        help_text="Only pairs that contain the image's ground-truth class.",
    )
    any_cluster = forms.BooleanField(
        required=False,
        label="Pairs from any cluster (paper)",
        help_text="Off: only pairs of the cluster of the most probable class, whose CWOX-2s "
        "maps are not emptied by a more probable cluster on the same object.",
    )
    training = forms.IntegerField(
        min_value=0, initial=3, label="Training items", help_text="The first N items train."
    )
    chunk_size = forms.IntegerField(
        min_value=1,
        label="Items per chunk",
        help_text="Each chunk is one task for one worker; re-runs skip finished chunks.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["chunk_size"].initial = settings.CWOX_JOB_CHUNK_SIZE

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if "explainer" in data:
            try:
                data["explainer_spec"] = choose_explainer(
                    data["explainer"], masks=data.get("rise_masks") or None
                )
            except EngineInputError as error:
                self.add_error("rise_masks", str(error))
        if data.get("require_truth") and not data.get("labels"):
            self.add_error("labels", "Ground truth required: say where the labels are.")
        if {"floor", "per_pair"} <= set(data):
            data["rules"] = pair_rules(data)
        return data

    def create(self, study: Study, user: AbstractBaseUser | None) -> Job:
        data = self.cleaned_data
        return create_pregeneration(
            study,
            data["images"],
            user=user,
            explainer=data["explainer_spec"],
            rules=data["rules"],
            labels=data["labels"] or None,
            training=data["training"],
            chunk_size=data["chunk_size"],
            device=data["device"],
        )


class EvaluateForm(JobForm):
    """CAUC/CDROP of the study's methods on the confusing pairs of an image folder."""

    explainers = forms.MultipleChoiceField(
        choices=explainer_choices, initial=["gradcam"], widget=forms.CheckboxSelectMultiple
    )
    limit = forms.IntegerField(
        min_value=1, required=False, help_text="Evaluate the first N images only (optional)."
    )

    def create(self, study: Study, user: AbstractBaseUser | None) -> Job:
        data = self.cleaned_data
        known = method_names()
        methods = [
            method
            for method in study.conditions.order_by("position").values_list("method", flat=True)
            if method in known
        ] or list(known)
        settings = EvaluationSettings(
            images=Path(data["images"]),
            out=Path(WORK) / "evaluation",
            explainers=tuple(ExplainerSpec(name) for name in data["explainers"]),
            methods=tuple(methods),
            device=data["device"],
            limit=data["limit"],
        )
        parameters = command_parameters(Job.Kind.EVALUATE, settings)
        return create_job(Job.Kind.EVALUATE, parameters, study=study, user=user)
