"""Stimulus items: an image, its confusing pair of classes, and one heatmap set per method.

Files live under ``MEDIA_ROOT/stimuli/<study slug>/<item key>/``. They are never served at a
public URL: participants receive them through their own trial's views (under names that reveal
nothing about the answer) and researchers through staff-only views.
"""

from __future__ import annotations

from django.db import models

from studies.models.study import Study, StudyPart, method_name_validator


def stimulus_path(instance: StimulusItem | HeatmapSet, filename: str) -> str:
    item = instance if isinstance(instance, StimulusItem) else instance.item
    return f"stimuli/{item.study.slug}/{item.key}/{filename}"


class StimulusManifest(models.Model):
    """One imported stimulus manifest (``docs/stimulus-manifest.md``): where items came from."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="manifests")
    source = models.CharField(max_length=500, help_text="The file or upload it was read from.")
    sha256 = models.CharField(max_length=64, help_text="SHA-256 of manifest.json.")
    model = models.JSONField(help_text="Model name, weight file SHA-256, preprocessing, tree.")
    explainer = models.JSONField(help_text="Base explainer and its parameters.")
    methods = models.JSONField()
    seed = models.BigIntegerField(null=True, blank=True)
    software = models.JSONField(default=dict, blank=True)
    document = models.JSONField(help_text="The whole manifest as imported.")
    rejected = models.JSONField(
        default=list,
        blank=True,
        help_text="What did not become an item, each {'id', 'stage', 'reason'}: images that got "
        "no confusing pair ('pairs'), failed pregeneration ('pregenerate') or failed a hard "
        "quality check at import ('import').",
    )
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("study", "-imported_at")

    def __str__(self) -> str:
        model = self.model.get("name", "?") if isinstance(self.model, dict) else "?"
        explainer = self.explainer.get("name", "?") if isinstance(self.explainer, dict) else "?"
        return f"{model} / {explainer} ({self.imported_at:%Y-%m-%d %H:%M})"


class StimulusItem(StudyPart):
    """An image with its confusing pair; class ``a`` and class ``b`` name the two labels."""

    frozen_name = "stimulus items"

    class Role(models.TextChoices):
        TRAINING = "training", "Training (with feedback)"
        TEST = "test", "Test"
        ATTENTION = "attention", "Attention check"

    class Review(models.TextChoices):
        UNDECIDED = "undecided", "Not reviewed"
        KEEP = "keep", "Keep"
        DROP = "drop", "Drop"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="items")
    manifest = models.ForeignKey(
        StimulusManifest, null=True, blank=True, on_delete=models.RESTRICT, related_name="items"
    )
    key = models.SlugField(max_length=120, help_text="Unique within the study.")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.TEST)
    image = models.ImageField(upload_to=stimulus_path, max_length=300)
    image_sha256 = models.CharField(max_length=64, blank=True)
    class_a_name = models.CharField("class a", max_length=120)
    class_a_index = models.PositiveSmallIntegerField("class a index", null=True, blank=True)
    class_a_probability = models.FloatField(null=True, blank=True)
    class_b_name = models.CharField("class b", max_length=120)
    class_b_index = models.PositiveSmallIntegerField("class b index", null=True, blank=True)
    class_b_probability = models.FloatField(null=True, blank=True)
    details = models.JSONField(
        default=dict, blank=True, help_text="Cluster, source image and the like, from the manifest."
    )
    review = models.CharField(
        max_length=10,
        choices=Review.choices,
        default=Review.UNDECIDED,
        help_text="The researcher's decision on the stimulus review page; dropped items are "
        "never shown to participants. Frozen with the study.",
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("study", "role", "key")
        constraints = [
            models.UniqueConstraint(fields=("study", "key"), name="item_unique_key"),
        ]

    def __str__(self) -> str:
        return f"{self.key}: {self.class_a_name} / {self.class_b_name}"

    def class_name(self, side: str) -> str:
        """The label of class ``side`` ('a' or 'b')."""
        return {"a": self.class_a_name, "b": self.class_b_name}[side]


class HeatmapSet(StudyPart):
    """The pictures one method shows for an item: the maps of class a and b (CWOX-2s: and the
    stage-1 cluster map)."""

    frozen_name = "stimulus items"

    item = models.ForeignKey(StimulusItem, on_delete=models.CASCADE, related_name="heatmap_sets")
    method = models.CharField(max_length=40, validators=[method_name_validator])
    map_a = models.ImageField(upload_to=stimulus_path, max_length=300)
    map_b = models.ImageField(upload_to=stimulus_path, max_length=300)
    cluster_map = models.ImageField(upload_to=stimulus_path, max_length=300, blank=True)
    hashes = models.JSONField(default=dict, blank=True, help_text="SHA-256 of each file.")
    quality = models.JSONField(
        default=dict,
        blank=True,
        help_text="Quality measures of each map ('a', 'b', 'cluster': the manifest's record with "
        "the visible area measured on the file at import) and of the pair ('pair').",
    )

    class Meta:
        ordering = ("item", "method")
        constraints = [
            models.UniqueConstraint(fields=("item", "method"), name="heatmapset_unique_method"),
        ]

    def __str__(self) -> str:
        return f"{self.item.key} / {self.method}"

    def owning_study(self) -> Study:
        return self.item.study

    def map_of(self, side: str) -> models.fields.files.FieldFile:
        """The heatmap of class ``side`` ('a' or 'b')."""
        return {"a": self.map_a, "b": self.map_b}[side]
