"""Balanced, seeded assignment and each participant's drawn schedule."""

from collections import Counter

import pytest
from django.utils import timezone

from studies import flow
from studies.models import Participant
from studies.randomization import derived_seed
from tests.server.factories import make_study

pytestmark = pytest.mark.django_db


def _arrivals(study, n, group="expert"):
    chosen = study.groups.get(slug=group)
    return [flow.consent(study, chosen) for _ in range(n)]


def test_derived_seed_is_stable_and_separates_parts():
    assert derived_seed(1, "a", 2) == derived_seed(1, "a", 2)
    assert derived_seed(1, "a", 2) != derived_seed(1, "a", 3)
    assert 0 <= derived_seed("x") < 2**63


def test_conditions_stay_balanced_within_each_group(tmp_path):
    study = make_study(tmp_path)
    for n, group in ((10, "expert"), (7, "non-expert")):
        loads = Counter(p.condition.name for p in _arrivals(study, n, group))
        assert max(loads.values()) - min(loads.values()) <= 1
        assert sum(loads.values()) == n


def test_same_seed_same_assignments_and_schedules(tmp_path):
    runs = []
    for slug in ("first", "second"):
        study = make_study(tmp_path, slug=slug, seed=11)
        participants = _arrivals(study, 6)
        runs.append(
            [
                (
                    p.condition.name,
                    [(t.item.key, t.heatmap_left, t.label_first) for t in p.trials.all()],
                )
                for p in participants
            ]
        )
    conditions = [[c for c, _ in run] for run in runs]
    assert conditions[0] == conditions[1]
    other = make_study(tmp_path, slug="third", seed=12)
    assert [p.condition.name for p in _arrivals(other, 6)] != conditions[0]


def test_abandoned_slot_is_freed_after_the_timeout(tmp_path):
    study = make_study(tmp_path)
    first_three = _arrivals(study, 3)
    assert len({p.condition_id for p in first_three}) == 3
    gone = first_three[1]
    Participant.objects.filter(pk=gone.pk).update(
        last_seen_at=timezone.now() - study.abandonment_timeout - timezone.timedelta(seconds=1)
    )
    newcomer = _arrivals(study, 1)[0]
    assert newcomer.condition_id == gone.condition_id
    gone.refresh_from_db()
    assert gone.state == Participant.State.ABANDONED


def test_completed_participants_keep_their_slot(tmp_path):
    study = make_study(tmp_path)
    first_three = _arrivals(study, 3)
    done = first_three[0]
    Participant.objects.filter(pk=done.pk).update(
        state=Participant.State.COMPLETED, last_seen_at=timezone.now() - timezone.timedelta(days=9)
    )
    newcomer = _arrivals(study, 1)[0]
    assert newcomer.condition_id in {p.condition_id for p in first_three}
    done.refresh_from_db()
    assert done.state == Participant.State.COMPLETED


def test_schedule_has_training_then_test_with_checks_at_positions(tmp_path):
    study = make_study(tmp_path, training_trials=2, test_trials=4, attention_check_positions=(1, 5))
    participant = _arrivals(study, 1)[0]
    trials = list(participant.trials.all())
    assert [t.block for t in trials] == ["training"] * 2 + ["test"] * 6
    assert [t.is_attention_check for t in trials[2:]] == [True, False, False, False, True, False]
    assert all(t.item.role == "attention" for t in trials if t.is_attention_check)
    assert all(t.item.role == "training" for t in trials[:2])
    assert len({t.item_id for t in trials}) == len(trials)
    assert {t.heatmap_left for t in trials} <= {"a", "b"}
    assert participant.seed == derived_seed(study.seed, "participant", "expert", 1)


def test_sides_are_drawn_not_fixed(tmp_path):
    study = make_study(tmp_path)
    sides = Counter(
        (t.heatmap_left, t.label_first) for p in _arrivals(study, 12) for t in p.trials.all()
    )
    assert set(sides) == {("a", "a"), ("a", "b"), ("b", "a"), ("b", "b")}
