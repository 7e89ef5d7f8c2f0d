"""Power planning through the command and the admin page, on a study built by the factories."""

from io import StringIO

import pandas as pd
import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from studies.analysis import simulate_power
from studies.results import study_power_design
from tests.server.factories import make_study

pytestmark = pytest.mark.django_db

ACCURACY = "swox=0.6,cwox-1sb=0.65,cwox-2s=0.8"


@pytest.fixture
def study(tmp_path):
    return make_study(tmp_path, slug="power")


def _run(*args, **options) -> str:
    out = StringIO()
    call_command("plan_power", *args, stdout=out, **options)
    return out.getvalue()


def test_plan_power_prints_a_table_and_writes_files(study, tmp_path):
    text = _run(
        study.slug, accuracy=ACCURACY, n="10,40", simulations=300, seed=3, out=tmp_path / "out"
    )
    assert "Power by participants per cell" in text and "80% / 90%" in text
    assert "SWOX" in text and "CWOX-2s" in text and "welch_t" in text and "pooled" in text
    assert "4 test trials per participant from 6 items" in text  # the study's own design
    power = pd.read_csv(tmp_path / "out" / "power.csv")
    assert set(power["n_per_cell"]) == {10, 40}
    assert set(power["group"]) == {"expert", "non-expert"}
    assert (tmp_path / "out" / "power.png").stat().st_size > 5000
    assert (tmp_path / "out" / "power.svg").exists()
    needed = pd.read_csv(tmp_path / "out" / "power_needed.csv")
    assert list(needed.columns[-2:]) == ["n_80", "n_90"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"accuracy": "swox=1.2,cwox-1sb=0.6,cwox-2s=0.7"}, "strictly between 0 and 1"),
        ({"accuracy": "swox=0.6,magic=0.6,cwox-2s=0.7"}, "unknown condition 'magic'"),
        ({"accuracy": "swox=0.6,cwox-2s=0.7"}, "no value for expert:CWOX-1sB"),
        ({"accuracy": ACCURACY, "n": "1,10"}, "needs >= 2 participants"),
        ({"accuracy": "swox=high"}, "is not NAME=NUMBER"),
        ({}, "give the assumed accuracy"),
        ({"from_data": True}, "give the assumed accuracy"),  # no trials yet
    ],
)
def test_plan_power_rejects_bad_inputs_with_a_clear_message(study, options, message):
    with pytest.raises(CommandError, match=message):
        _run(study.slug, simulations=100, **options)


def test_plan_power_takes_accuracies_and_sds_from_the_study_data(study):
    call_command("simulate_participants", study.slug, n=12, group="expert", accuracy=0.75)
    call_command("simulate_participants", study.slug, n=12, group="non-expert", accuracy=0.75)
    design, sources = study_power_design(study, from_data=True)
    assert sources["accuracy"] == sources["participant_sd"] == "estimated from the study's trials"
    assert all(0.4 < value < 0.99 for value in design.accuracy.values())
    assert design.participant_sd >= 0 and design.item_sd >= 0
    text = _run(study.slug, from_data=True, n="4,8", simulations=200)
    assert "accuracy: estimated from the study's trials" in text
    assert "item_sd: estimated from the study's trials" in text


def test_admin_power_page_shows_the_form_then_the_table_and_plot(admin_client, study):
    url = reverse("admin:studies_study_power", args=[study.pk])
    page = admin_client.get(url).content.decode()
    assert "Accuracy expert: SWOX" in page and 'name="participant_sd"' in page
    assert "Participants per cell needed" not in page  # nothing simulated yet
    change = admin_client.get(reverse("admin:studies_study_change", args=[study.pk]))
    assert url in change.content.decode()  # linked from the study's pages
    query = {f"accuracy_{g}_{c}": a for g in (0, 1) for c, a in enumerate((0.6, 0.65, 0.8))}
    query.update(items=4, participant_sd=0.5, item_sd=0.5, n="10,30", simulations=200, seed=1)
    page = admin_client.get(url, query).content.decode()
    assert "Participants per cell needed" in page and "<svg" in page
    assert "<th>n=10</th>" in page and "<th>n=30</th>" in page and "<th>n_80</th>" in page
    assert "welch_t" in page and "pooled" in page and "<script" not in page.split("<svg")[1]
    design, _ = study_power_design(study, {"swox": 0.6, "cwox-1sb": 0.65, "cwox-2s": 0.8}, items=4)
    expected = simulate_power(design, [10, 30], simulations=200, seed=1)
    first = expected.iloc[0]
    assert f"<td>{first['power']:.3g}</td>" in page  # the same seeded numbers as the command


def test_admin_power_form_rejects_bad_inputs_by_field(admin_client, study):
    url = reverse("admin:studies_study_power", args=[study.pk])
    query = {f"accuracy_{g}_{c}": 0.6 for g in (0, 1) for c in range(3)}
    query.update(accuracy_0_1=1.0, items=4, participant_sd=-1, item_sd=0.5, n="1,5")
    query.update(simulations=200, seed=0)
    page = admin_client.get(url, query).content.decode()
    assert "Please correct the errors below." in page
    assert "An accuracy must lie strictly between 0 and 1." in page
    assert "greater than or equal to 0" in page
    assert "needs &gt;= 2 participants" in page
    assert "Participants per cell needed" not in page
