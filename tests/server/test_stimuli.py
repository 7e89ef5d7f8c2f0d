"""Importing engine manifests, and freezing a study's stimuli when it opens."""

import hashlib
import io
import json
import zipfile

import pytest
from django.core.exceptions import ValidationError
from PIL import Image

from studies.lifecycle import open_study, problems_opening, reopen_as_draft
from studies.models import HeatmapSet, StimulusItem, StimulusManifest, Study
from studies.models.study import StudyFrozenError
from studies.stimuli_import import (
    ManifestError,
    RejectedItem,
    import_manifest,
    import_manifest_zip,
)
from tests.server.factories import make_study, write_manifest

pytestmark = pytest.mark.django_db


@pytest.fixture
def draft(tmp_path):
    return Study.objects.create(
        title="Draft", slug="draft", consent_text="c", instructions="i", debrief_text="d"
    )


def _files_in(media_root):
    return sorted(p for p in media_root.rglob("*") if p.is_file()) if media_root.exists() else []


def test_import_stores_items_maps_and_provenance(draft, tmp_path):
    folder = write_manifest(tmp_path / "m", training=1, test=2, attention=1)
    items = import_manifest(draft, folder)
    assert [i.role for i in items] == ["training", "test", "test", "attention"]
    record = StimulusManifest.objects.get()
    assert record.model["name"] == "efficientnet-lite0"
    assert len(record.sha256) == 64
    sets = HeatmapSet.objects.filter(item=items[0])
    assert sorted(s.method for s in sets) == ["cwox-1sb", "cwox-2s", "swox"]
    assert sets.get(method="cwox-2s").cluster_map
    assert not sets.get(method="swox").cluster_map
    document = json.loads((folder / "manifest.json").read_text())
    assert items[0].image_sha256 == document["files"]["images/item-00.png"]
    assert items[0].image.read() == (folder / "images/item-00.png").read_bytes()


def _edit_manifest(folder, change):
    path = folder / "manifest.json"
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: (f / "heatmaps/item-01/swox-b.png").write_bytes(b"x"), "item-01: heatmaps"),
        (lambda f: (f / "images/item-02.png").unlink(), "item-02: file images/item-02.png is"),
        (
            lambda f: _edit_manifest(
                f, lambda d: d["items"][1]["heatmaps"]["cwox-2s"].pop("cluster")
            ),
            "item-01: cwox-2s needs the stage-1 'cluster' map",
        ),
        (
            lambda f: _edit_manifest(f, lambda d: d["items"][0]["heatmaps"].update(extra={})),
            "unknown method",
        ),
        (
            lambda f: _edit_manifest(f, lambda d: d["items"][0].update(image="../secret.png")),
            "leaves the manifest's folder",
        ),
        (lambda f: _edit_manifest(f, lambda d: d["items"][0]["classes"].pop()), "two classes"),
        (lambda f: _edit_manifest(f, lambda d: d.update(version=2)), "version 2"),
        (lambda f: (f / "manifest.json").write_text("{"), "not valid JSON"),
    ],
)
def test_a_bad_manifest_imports_nothing(draft, tmp_path, media_root, damage, message):
    folder = write_manifest(tmp_path / "m", training=1, test=2, attention=0)
    damage(folder)
    with pytest.raises(ManifestError, match=message.replace("(", r"\(")):
        import_manifest(draft, folder)
    assert not StimulusItem.objects.exists()
    assert not StimulusManifest.objects.exists()
    assert _files_in(media_root) == []


def _replace_file(folder, path, content: bytes):
    """Put ``content`` at ``path`` and record its SHA-256 in the manifest (the hash matches)."""
    (folder / path).write_bytes(content)
    digest = hashlib.sha256(content).hexdigest()
    _edit_manifest(folder, lambda d: d["files"].update({path: digest}))


def _png_bytes(size=(8, 8), colour=(0, 0, 0)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def _methods_of(key):
    return sorted(HeatmapSet.objects.filter(item__key=key).values_list("method", flat=True))


def test_a_text_file_named_like_a_heatmap_is_rejected_with_its_item(draft, tmp_path):
    folder = write_manifest(tmp_path / "m", training=0, test=3, attention=0)
    _replace_file(folder, "heatmaps/item-01/swox-b.png", b"this is not a picture\n")
    result = import_manifest(draft, folder)
    assert [item.key for item in result] == ["item-00", "item-02"]
    [rejected] = result.rejected
    assert rejected.key == "item-01"
    assert "heatmaps/item-01/swox-b.png does not decode as an image" in rejected.reason
    # rejected in one condition = rejected in all: no heatmaps of any method, no item
    assert not StimulusItem.objects.filter(key="item-01").exists()
    assert _methods_of("item-01") == []
    assert _methods_of("item-00") == ["cwox-1sb", "cwox-2s", "swox"]


def test_a_blank_overlay_rejects_its_item(draft, tmp_path):
    folder = write_manifest(tmp_path / "m", training=0, test=2, attention=0)
    photo = (folder / "images/item-00.png").read_bytes()
    _replace_file(folder, "heatmaps/item-00/cwox-2s-a.png", photo)  # the overlay = the photo
    result = import_manifest(draft, folder)
    assert [item.key for item in result] == ["item-01"]
    assert result.rejected == (
        RejectedItem(
            "item-00",
            "heatmaps/item-00/cwox-2s-a.png is blank: the cwox-2s overlay shows nothing over "
            "the image",
        ),
    )


def test_an_overlay_that_differs_only_invisibly_counts_as_blank(draft, tmp_path):
    folder = write_manifest(tmp_path / "m", training=0, test=2, attention=0)
    with Image.open(folder / "images/item-01.png") as image:
        r, g, b = image.convert("RGB").getpixel((0, 0))
    _replace_file(folder, "heatmaps/item-01/cwox-2s-cluster.png", _png_bytes(colour=(r + 30, g, b)))
    result = import_manifest(draft, folder)
    assert [r.key for r in result.rejected] == ["item-01"]
    assert "cwox-2s-cluster.png is blank" in result.rejected[0].reason


def test_a_heatmap_of_another_size_than_the_image_rejects_its_item(draft, tmp_path):
    folder = write_manifest(tmp_path / "m", training=0, test=2, attention=0)
    _replace_file(folder, "heatmaps/item-00/cwox-1sb-a.png", _png_bytes(size=(8, 9)))
    result = import_manifest(draft, folder)
    assert [item.key for item in result] == ["item-01"]
    assert "cwox-1sb-a.png is 8×9 pixels; the item's image images/item-00.png is 8×8" in (
        result.rejected[0].reason
    )


def test_an_item_image_that_does_not_decode_rejects_the_item(draft, tmp_path):
    folder = write_manifest(tmp_path / "m", training=0, test=2, attention=0)
    _replace_file(folder, "images/item-01.png", _png_bytes()[:40])  # a truncated PNG
    result = import_manifest(draft, folder)
    assert [r.key for r in result.rejected] == ["item-01"]
    assert "images/item-01.png does not decode as an image" in result.rejected[0].reason


def test_a_quality_record_reporting_nan_rejects_the_item(draft, tmp_path):
    folder = write_manifest(tmp_path / "m", training=0, test=2, attention=0)
    record = {"finite": False, "constant": False, "positive": False, "n_delta": 0}
    _edit_manifest(folder, lambda d: d["items"][1].update(quality={"cwox-2s": {"b": record}}))
    result = import_manifest(draft, folder)
    assert [item.key for item in result] == ["item-00"]
    assert result.rejected[0].reason == (
        "cwox-2s map b: the manifest's quality record reports not-finite"
    )


def test_a_malformed_quality_record_refuses_the_whole_manifest(draft, tmp_path):
    folder = write_manifest(tmp_path / "m", training=0, test=2, attention=0)
    _edit_manifest(folder, lambda d: d["items"][0].update(quality={"swox": {"a": {"n": 1}}}))
    with pytest.raises(ManifestError, match="item item-00: 'quality' must map"):
        import_manifest(draft, folder)
    assert not StimulusItem.objects.exists()


def test_when_every_item_is_rejected_nothing_is_imported(draft, tmp_path, media_root):
    folder = write_manifest(tmp_path / "m", training=0, test=2, attention=0)
    for key in ("item-00", "item-01"):
        _replace_file(folder, f"heatmaps/{key}/swox-a.png", b"text")
    with pytest.raises(ManifestError, match="every item was rejected .item-00: heatmaps"):
        import_manifest(draft, folder)
    assert not StimulusManifest.objects.exists()
    assert _files_in(media_root) == []


def test_training_roles_go_to_the_first_accepted_items(draft, tmp_path):
    folder = write_manifest(tmp_path / "m", training=0, test=4, attention=0)
    _edit_manifest(folder, lambda d: [item.pop("role") for item in d["items"]])
    _replace_file(folder, "heatmaps/item-00/swox-a.png", b"text")
    result = import_manifest(draft, folder, training=2)
    assert [(i.key, i.role) for i in result] == [
        ("item-01", "training"),
        ("item-02", "training"),
        ("item-03", "test"),
    ]


def test_zip_import_and_unsafe_zip(draft, tmp_path):
    folder = write_manifest(tmp_path / "m", training=1, test=1, attention=0)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in folder.rglob("*"):
            archive.write(path, f"stimuli/{path.relative_to(folder)}")
    buffer.seek(0)
    assert len(import_manifest_zip(draft, buffer)) == 2
    unsafe = io.BytesIO()
    with zipfile.ZipFile(unsafe, "w") as archive:
        archive.writestr("../manifest.json", "{}")
    unsafe.seek(0)
    with pytest.raises(ManifestError, match="unsafe path"):
        import_manifest_zip(draft, unsafe)
    with pytest.raises(ManifestError, match="not a ZIP"):
        import_manifest_zip(draft, io.BytesIO(b"plain text"))


def test_duplicate_keys_are_refused(draft, tmp_path):
    folder = write_manifest(tmp_path / "m", training=0, test=2, attention=0)
    import_manifest(draft, folder)
    with pytest.raises(ManifestError, match="already has items item-00, item-01"):
        import_manifest(draft, folder)
    assert StimulusItem.objects.count() == 2


def test_open_study_freezes_its_stimuli(tmp_path):
    study = make_study(tmp_path)
    assert study.frozen_manifest["items"][0]["heatmaps"]["swox"]["sha256"]["a"]
    item = study.items.first()
    item.class_a_name = "changed"
    with pytest.raises(StudyFrozenError, match="frozen"):
        item.save()
    with pytest.raises(StudyFrozenError):
        item.heatmap_sets.first().delete()
    with pytest.raises(StudyFrozenError):
        study.conditions.first().delete()
    with pytest.raises(StudyFrozenError):
        import_manifest(study, write_manifest(tmp_path / "more", training=0, test=1, attention=0))
    item.refresh_from_db()
    assert item.class_a_name != "changed"


def test_opening_needs_enough_items_and_every_method(tmp_path):
    study = make_study(tmp_path, opened=False)
    assert problems_opening(study) == []
    study.test_trials = 50
    study.save()
    study.items.filter(key="item-03").first().heatmap_sets.filter(method="swox").delete()
    problems = problems_opening(study)
    assert any("50 test trials" in p for p in problems)
    assert "item item-03 has no swox heatmaps" in problems
    with pytest.raises(ValidationError, match="cannot open yet"):
        open_study(study)
    study.refresh_from_db()
    assert study.is_draft


def test_back_to_draft_only_without_participants(tmp_path):
    from studies import flow

    study = make_study(tmp_path)
    reopen_as_draft(study)
    study.refresh_from_db()
    assert study.is_draft and study.frozen_manifest is None
    open_study(study)
    study.refresh_from_db()
    flow.consent(study, study.groups.first())
    with pytest.raises(ValidationError, match="has participants"):
        reopen_as_draft(study)


def test_import_stimuli_command(draft, tmp_path):
    from django.core.management import CommandError, call_command

    folder = write_manifest(tmp_path / "m", training=0, test=3, attention=0)
    _edit_manifest(folder, lambda d: [item.pop("role") for item in d["items"]])
    _replace_file(folder, "heatmaps/item-02/swox-b.png", b"not a picture")
    output = io.StringIO()
    call_command(
        "import_stimuli", "draft", str(folder / "manifest.json"), training=1, stdout=output
    )
    assert sorted(StimulusItem.objects.values_list("role", flat=True)) == ["test", "training"]
    assert "imported 2 items" in output.getvalue()
    assert "rejected 1 items:\n  item-02: heatmaps/item-02/swox-b.png does not decode" in (
        output.getvalue()
    )
    with pytest.raises(CommandError, match="nothing imported: the study already has items"):
        call_command("import_stimuli", "draft", str(folder), stdout=io.StringIO())
    with pytest.raises(CommandError, match="no study"):
        call_command("import_stimuli", "missing", str(folder))


@pytest.mark.slow
def test_pregenerate_stimuli_command_from_an_image_folder(draft, tmp_path):
    """Pairs and Grad-CAM heatmaps on the embedded classifier, then the import, in one go."""
    from django.core.management import CommandError, call_command

    from explain_engine.demo_photos import PHOTOS, bundled_photo

    images = tmp_path / "images"
    images.mkdir()
    for name in ("chelsea", "rocket"):
        (images / f"{name}.png").write_bytes(bundled_photo(*PHOTOS[name]).read_bytes())
    (images / "broken.png").write_bytes(b"not an image")
    for name, method in (("SWOX", "swox"), ("CWOX-2s", "cwox-2s")):
        draft.conditions.create(name=name, method=method)
    call_command("pregenerate_stimuli", "draft", str(images), training=1, work=tmp_path / "w")
    # chelsea's cat pair (tiger cat / tabby) sits behind Egyptian cat's own cluster: the
    # leading-cluster rule leaves it out, and the study's manifest says why.
    (rocket,) = StimulusItem.objects.all()
    assert (rocket.key, rocket.role) == ("rocket", "training")
    assert {rocket.class_a_name, rocket.class_b_name} == {"missile", "projectile"}
    assert sorted(rocket.heatmap_sets.values_list("method", flat=True)) == ["cwox-2s", "swox"]
    assert rocket.manifest.model["name"] == "efficientnet-lite0"
    left_out = {entry["id"]: entry for entry in rocket.manifest.rejected}
    assert left_out["chelsea.png"]["stage"] == "pairs"
    assert "leading confusion cluster" in left_out["chelsea.png"]["reason"]
    assert left_out["broken.png"]["stage"] == "pairs"
    assert "unreadable" in left_out["broken.png"]["reason"]
    maps = rocket.heatmap_sets.get(method="swox")
    assert set(maps.quality) == {"a", "b", "pair"}
    assert 0 < maps.quality["a"]["visible_area"] <= 1 and "n_delta" in maps.quality["a"]
    with pytest.raises(CommandError, match="already has items"):
        call_command("pregenerate_stimuli", "draft", str(images), work=tmp_path / "w")
    StimulusItem.objects.all().delete()
    call_command(
        "pregenerate_stimuli", "draft", str(images), any_cluster=True, work=tmp_path / "w2"
    )
    chelsea = StimulusItem.objects.get(key="chelsea")
    assert {chelsea.class_a_name, chelsea.class_b_name} == {"tiger cat", "tabby"}


@pytest.mark.slow
def test_pregenerate_stimuli_command_takes_rise_with_a_mask_pair(draft, tmp_path):
    """``--rise-masks 64,32`` reaches RISE (the command used to declare an int)."""
    from django.core.management import call_command

    from explain_engine.demo_photos import PHOTOS, bundled_photo

    images = tmp_path / "images"
    images.mkdir()
    (images / "rocket.png").write_bytes(bundled_photo(*PHOTOS["rocket"]).read_bytes())
    draft.conditions.create(name="CWOX-2s", method="cwox-2s")
    work = tmp_path / "w"
    rise = ("--explainer", "rise", "--rise-masks", "64,32", "--device", "cpu")
    call_command(
        "pregenerate_stimuli", "draft", str(images), *rise, work=work, stdout=io.StringIO()
    )
    manifest = json.loads((work / "stimuli" / "manifest.json").read_text())
    assert_rise_with_64_and_32_masks(manifest["explainer"])
    assert [item.key for item in StimulusItem.objects.all()] == ["rocket"]


def assert_rise_with_64_and_32_masks(explainer: dict) -> None:
    stages = explainer["parameters"]
    assert explainer["name"] == "rise"
    assert (stages["stage1"]["num_masks"], stages["stage2"]["num_masks"]) == (64, 32)


@pytest.mark.slow
def test_create_demo_study_takes_rise_with_a_mask_pair(tmp_path):
    """``create_demo_study --explainer rise --rise-masks 64,32`` builds the demo with RISE."""
    from django.core.management import call_command

    rise = ("--explainer", "rise", "--rise-masks", "64,32", "--device", "cpu")
    call_command("create_demo_study", *rise, "--work", str(tmp_path / "demo"), stdout=io.StringIO())
    study = Study.objects.get(slug="demo")
    assert study.status == "open" and study.manifests.count() == 2
    for manifest in study.manifests.all():
        assert_rise_with_64_and_32_masks(manifest.explainer)
