"""Results end to end: bots answer through the pages, the tables are exported and read back."""

import pandas as pd
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse
from django.utils.html import escape
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from studies.analysis.comparisons import NO_SPREAD
from studies.models import Trial
from studies.results import study_tables, trial_table
from tests.server.factories import make_study

pytestmark = pytest.mark.django_db


@pytest.fixture
def study(tmp_path):
    made = make_study(tmp_path)
    call_command("simulate_participants", made.slug, n=6, group="expert", accuracy=1.0)
    call_command("simulate_participants", made.slug, n=3, group="non-expert", accuracy=0.0)
    return made


def test_trial_table_mirrors_the_database(study):
    table = trial_table(study)
    assert len(table) == Trial.objects.count()
    answered = Trial.objects.filter(answered_at__isnull=False)
    assert table["answered"].sum() == answered.count()
    assert table["correct"].sum() == answered.filter(correct=True).count()
    assert set(table["condition"]) == {"SWOX", "CWOX-1sB", "CWOX-2s"}


def test_export_round_trip_with_and_without_exclusions(study, tmp_path):
    out = tmp_path / "with"
    call_command("export_results", study.slug, out=out)
    paper = pd.read_csv(out / "paper.csv").set_index(["group", "measure"])
    for condition in ("SWOX", "CWOX-1sB", "CWOX-2s"):  # two perfect bots each: small, no spread
        assert paper.loc[("expert", "accuracy"), condition] == "1.00 ± 0.00 (n=2)†‡"
    # Always-wrong bots fail the attention check, so the study's rule excludes all of them.
    assert paper.loc[("non-expert", "accuracy")].isna().all()
    flow = pd.read_csv(out / "flow.csv").set_index("step")
    assert flow.loc["excluded: failed attention checks", "n_participants"] == 3
    assert flow.loc["analysed", "n_participants"] == 6
    for name in ("trials", "participants", "summary", "comparisons", "calibration"):
        csv = pd.read_csv(out / f"{name}.csv")
        sheet = pd.read_excel(out / "tables.xlsx", sheet_name=name, header=1)
        assert list(csv.columns) == list(sheet.columns)
        assert len(csv) == len(sheet)
    assert (out / "CODEBOOK.md").read_text().count("|") > 20
    assert (out / "summary.png").stat().st_size > 1000
    assert (out / "calibration.svg").exists()

    everyone = tmp_path / "without"
    call_command("export_results", study.slug, out=everyone, no_exclusions=True, format="csv")
    paper = pd.read_csv(everyone / "paper.csv").set_index(["group", "measure"])
    cells = paper.loc[("non-expert", "accuracy")]
    assert all(cell.startswith("0.00") for cell in cells)
    assert not (everyone / "tables.xlsx").exists()


def test_empty_study_exports_headers(tmp_path):
    study = make_study(tmp_path, slug="empty")
    tables = study_tables(study)
    assert (tables.summary["n_participants"] == 0).all()
    assert tables.summary["mean"].isna().all()
    assert tables.trials.empty and list(tables.trials.columns)
    call_command("export_results", study.slug, out=tmp_path / "out", format="csv")
    assert list(pd.read_csv(tmp_path / "out" / "trials.csv").columns)


def test_results_api_json_and_csv_for_staff_only(study):
    client = APIClient()
    url = f"/api/results/{study.pk}/"
    assert client.get(url).status_code == 401
    staff = get_user_model().objects.create_user("r", is_staff=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff).key}")
    payload = client.get(url).json()
    assert set(payload["tables"]) >= {"trials", "summary", "paper", "flow", "comparisons"}
    paper = client.get(f"{url}tables/paper/?format=csv")
    assert paper["Content-Type"].startswith("text/csv")
    assert "attachment" in paper["Content-Disposition"]
    assert paper.content.decode().splitlines()[0] == "group,measure,SWOX,CWOX-1sB,CWOX-2s"
    assert client.get(f"{url}tables/nothing/").status_code == 404
    assert client.get(f"{url}?interval=magic").status_code == 400
    assert client.get("/api/results/999999/").status_code == 404


def test_results_page_captions_its_tables_and_says_why_a_test_is_missing(admin_client, study):
    html = admin_client.get(reverse("admin:studies_study_results", args=[study.pk])).content
    html = html.decode().split('id="content-main"')[1]  # not the admin's navigation
    # expert: two perfect bots per condition, so no Welch test can be run, and the page says why
    assert escape(NO_SPREAD) in html
    assert "<th>n_participants_a</th>" in html and "<th>note</th>" in html
    assert html.count("<caption>") == 2 + 3  # each group's paper table, comparisons, AUROC, flow
    assert "(n=2)†‡" in html
    assert "inf" not in html.split("<h2>Comparisons")[1].split("<h2>")[0]
