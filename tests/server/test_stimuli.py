"""Importing engine manifests, and freezing a study's stimuli when it opens."""

import io
import json
import zipfile

import pytest
from django.core.exceptions import ValidationError

from studies.lifecycle import open_study, problems_opening, reopen_as_draft
from studies.models import HeatmapSet, StimulusItem, StimulusManifest, Study
from studies.models.study import StudyFrozenError
from studies.stimuli_import import ManifestError, import_manifest, import_manifest_zip
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
    call_command("import_stimuli", "draft", str(folder / "manifest.json"), training=1)
    assert sorted(StimulusItem.objects.values_list("role", flat=True)) == [
        "test",
        "test",
        "training",
    ]
    with pytest.raises(CommandError, match="nothing imported: the study already has items"):
        call_command("import_stimuli", "draft", str(folder))
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
    items = {item.key: item for item in StimulusItem.objects.all()}
    assert sorted(items) == ["chelsea", "rocket"]
    assert sorted(item.role for item in items.values()) == ["test", "training"]
    chelsea = items["chelsea"]
    assert {chelsea.class_a_name, chelsea.class_b_name} == {"tiger cat", "tabby"}
    assert sorted(chelsea.heatmap_sets.values_list("method", flat=True)) == ["cwox-2s", "swox"]
    assert chelsea.manifest.model["name"] == "efficientnet-lite0"
    with pytest.raises(CommandError, match="already has items"):
        call_command("pregenerate_stimuli", "draft", str(images), work=tmp_path / "w")


@pytest.mark.slow
def test_pregenerate_stimuli_command_takes_rise_with_a_mask_pair(draft, tmp_path):
    """``--rise-masks 64,32`` reaches RISE (the command used to declare an int)."""
    from django.core.management import call_command

    from explain_engine.demo_photos import PHOTOS, bundled_photo

    images = tmp_path / "images"
    images.mkdir()
    (images / "chelsea.png").write_bytes(bundled_photo(*PHOTOS["chelsea"]).read_bytes())
    draft.conditions.create(name="CWOX-2s", method="cwox-2s")
    work = tmp_path / "w"
    rise = ("--explainer", "rise", "--rise-masks", "64,32", "--device", "cpu")
    call_command(
        "pregenerate_stimuli", "draft", str(images), *rise, work=work, stdout=io.StringIO()
    )
    manifest = json.loads((work / "stimuli" / "manifest.json").read_text())
    assert_rise_with_64_and_32_masks(manifest["explainer"])
    assert [item.key for item in StimulusItem.objects.all()] == ["chelsea"]


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
