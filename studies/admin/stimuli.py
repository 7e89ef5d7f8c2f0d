"""Stimulus items with their heatmap sets (thumbnails through the staff-media view), frozen
once their study opens; imported manifests, read-only."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.db import models
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from studies.admin.common import (
    FrozenGuardMixin,
    FrozenInlineMixin,
    StaffFileInput,
    frozen_message,
    pretty_json,
    thumbnail,
)
from studies.models import HeatmapSet, StimulusItem, StimulusManifest, Study

STAFF_FILES = {models.ImageField: {"widget": StaffFileInput}}


class HeatmapSetInline(FrozenInlineMixin, admin.TabularInline):
    """One heatmap set per method: the maps of class a and b (CWOX-2s: and the cluster map)."""

    model = HeatmapSet
    extra = 0
    readonly_fields = ("heatmap_a", "heatmap_b", "stage_1_cluster_map")
    formfield_overrides = STAFF_FILES

    def get_fields(self, request: HttpRequest, obj: StimulusItem | None = None) -> tuple:
        files = ("map_a", "map_b", "cluster_map") if self.editable(obj) else ()
        return ("method", *files, *self.readonly_fields)

    @admin.display(description="heatmap of class a")
    def heatmap_a(self, maps: HeatmapSet) -> SafeString | str:
        return thumbnail(maps.map_a, f"{maps.method} heatmap of class a")

    @admin.display(description="heatmap of class b")
    def heatmap_b(self, maps: HeatmapSet) -> SafeString | str:
        return thumbnail(maps.map_b, f"{maps.method} heatmap of class b")

    @admin.display(description="stage-1 cluster map")
    def stage_1_cluster_map(self, maps: HeatmapSet) -> SafeString | str:
        return thumbnail(maps.cluster_map, f"{maps.method} cluster map")


@admin.register(StimulusItem)
class StimulusItemAdmin(FrozenGuardMixin, admin.ModelAdmin):
    list_display = ("picture", "key", "study", "role", "class_a_name", "class_b_name", "methods")
    list_display_links = ("key",)
    list_filter = ("study", "role", "manifest")
    search_fields = ("key", "class_a_name", "class_b_name")
    list_select_related = ("study",)
    inlines = (HeatmapSetInline,)
    readonly_fields = ("picture", "image_sha256", "manifest")
    formfield_overrides = STAFF_FILES

    def get_queryset(self, request: HttpRequest) -> QuerySet[StimulusItem]:
        return super().get_queryset(request).prefetch_related("heatmap_sets")

    def get_fields(self, request: HttpRequest, obj: StimulusItem | None = None) -> tuple:
        image = ("image",) if frozen_message(obj) is None else ()
        return (
            "study",
            "key",
            "role",
            *image,
            "picture",
            ("class_a_name", "class_a_index", "class_a_probability"),
            ("class_b_name", "class_b_index", "class_b_probability"),
            "details",
            "image_sha256",
            "manifest",
        )

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "study":
            kwargs["queryset"] = Study.objects.filter(status=Study.Status.DRAFT)
            kwargs["help_text"] = "Only draft studies take new or changed items."
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_change_permission(self, request: HttpRequest, obj: StimulusItem | None = None) -> bool:
        return frozen_message(obj) is None and super().has_change_permission(request, obj)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        frozen = frozen_message(self.get_object(request, unquote(object_id))) is not None
        extra_context = {**(extra_context or {}), "show_delete": not frozen}
        return super().change_view(request, object_id, form_url, extra_context)

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict | None = None
    ) -> HttpResponse:
        item = self.get_object(request, unquote(object_id))
        if message := frozen_message(item):
            change = reverse(f"{self.admin_site.name}:studies_stimulusitem_change", args=[item.pk])
            return self.refuse(request, message, change)
        return super().delete_view(request, object_id, extra_context)

    def get_deleted_objects(self, objs, request: HttpRequest) -> tuple:
        """Bulk deletion lists items of opened studies as protected (they are not deleted)."""
        deleted, counts, permissions, protected = super().get_deleted_objects(objs, request)
        frozen = [f"{item} — {message}" for item in objs if (message := frozen_message(item))]
        return deleted, counts, permissions, [*protected, *frozen]

    @admin.display(description="preview")
    def picture(self, item: StimulusItem) -> SafeString | str:
        return thumbnail(item.image, f"image of {item.key}")

    @admin.display(description="heatmap sets")
    def methods(self, item: StimulusItem) -> str:
        return ", ".join(sorted(maps.method for maps in item.heatmap_sets.all()))


@admin.register(StimulusManifest)
class StimulusManifestAdmin(admin.ModelAdmin):
    """Where a study's items came from: the engine's model, explainer and file hashes."""

    list_display = ("__str__", "study", "model_name", "explainer_name", "item_count", "imported_at")
    list_filter = ("study",)
    list_select_related = ("study",)
    fields = (
        "study",
        "source",
        "sha256",
        "imported_at",
        "items",
        "model_json",
        "explainer_json",
        "methods",
        "seed",
        "software_json",
        "file_hashes",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[StimulusManifest]:
        return super().get_queryset(request).annotate(items_total=Count("items"))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="model")
    def model_name(self, manifest: StimulusManifest) -> str:
        return str(manifest.model.get("name", "?"))

    @admin.display(description="explainer")
    def explainer_name(self, manifest: StimulusManifest) -> str:
        return str(manifest.explainer.get("name", "?"))

    @admin.display(description="items", ordering="items_total")
    def item_count(self, manifest: StimulusManifest) -> int:
        return manifest.items_total

    @admin.display(description="items")
    def items(self, manifest: StimulusManifest) -> SafeString:
        changelist = reverse(f"{self.admin_site.name}:studies_stimulusitem_changelist")
        return format_html(
            '<a href="{}?manifest__id__exact={}">{} items</a>',
            changelist,
            manifest.pk,
            manifest.items_total,
        )

    @admin.display(description="model (name, weights, preprocessing, tree)")
    def model_json(self, manifest: StimulusManifest) -> SafeString:
        return pretty_json(manifest.model)

    @admin.display(description="explainer and parameters")
    def explainer_json(self, manifest: StimulusManifest) -> SafeString:
        return pretty_json(manifest.explainer)

    @admin.display(description="software")
    def software_json(self, manifest: StimulusManifest) -> SafeString:
        return pretty_json(manifest.software)

    @admin.display(description="file hashes (SHA-256)")
    def file_hashes(self, manifest: StimulusManifest) -> SafeString:
        files = manifest.document.get("files", {}) if isinstance(manifest.document, dict) else {}
        rows = format_html_join(
            "", "<tr><td>{}</td><td><code>{}</code></td></tr>", sorted(files.items())
        )
        return format_html('<table class="file-hashes"><tbody>{}</tbody></table>', rows)
