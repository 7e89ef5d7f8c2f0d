"""Seeded randomization: balanced assignment to conditions and each participant's schedule.

Everything drawn is stored (the participant's condition, seed and assignment number; every
trial's item, block, sides), so a session can be reconstructed. The generators are seeded from
the study's seed, the group's slug and the participant's assignment number in the group, so a
copy of a study with the same seed and the same arrivals makes the same draws.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from studies.models import Condition, Participant, ParticipantGroup, StimulusItem, Study, Trial


def derived_seed(*parts: object) -> int:
    """A stable 63-bit seed from ``parts`` (the same parts give the same seed everywhere)."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def expire_abandoned(study: Study, group: ParticipantGroup | None = None) -> int:
    """Mark participants inactive for longer than the study's timeout as abandoned.

    Returns how many were marked. A participant who comes back later is active again (see
    :func:`studies.flow.touch`).
    """
    cutoff = timezone.now() - study.abandonment_timeout
    stale = Participant.objects.filter(
        study=study, state=Participant.State.ACTIVE, last_seen_at__lt=cutoff
    )
    if group is not None:
        stale = stale.filter(group=group)
    return stale.update(state=Participant.State.ABANDONED)


def condition_loads(group: ParticipantGroup) -> dict[int, int]:
    """Per condition id of the group's study: participants of ``group`` holding a slot (active
    within the timeout, or completed)."""
    holding = Q(participants__group=group) & Q(
        participants__state__in=(Participant.State.ACTIVE, Participant.State.COMPLETED)
    )
    rows = Condition.objects.filter(study_id=group.study_id).annotate(
        load=Count("participants", filter=holding)
    )
    return {row.pk: row.load for row in rows}


def assign(participant: Participant, group: ParticipantGroup) -> Participant:
    """Put ``participant`` in ``group`` and the group's least-loaded condition, and draw their
    trials; ties are broken by the study's seeded generator. Idempotent: an assigned
    participant is returned unchanged.

    Concurrency: the group's row is locked for the transaction (``SELECT … FOR UPDATE`` on
    PostgreSQL), so simultaneous arrivals in one group are assigned one after the other.
    """
    study = participant.study
    with transaction.atomic():
        group = ParticipantGroup.objects.select_for_update().get(pk=group.pk, study=study)
        participant = Participant.objects.select_for_update().get(pk=participant.pk)
        if participant.condition_id is not None:
            return participant
        expire_abandoned(study, group)
        loads = condition_loads(group)
        fewest = min(loads.values())
        candidates = sorted(pk for pk, load in loads.items() if load == fewest)
        number = (
            Participant.objects.filter(group=group, assignment_number__isnull=False).count() + 1
        )
        chooser = random.Random(derived_seed(study.seed, "assign", group.slug, number))
        participant.group = group
        participant.condition = Condition.objects.get(pk=chooser.choice(candidates))
        participant.assignment_number = number
        participant.assigned_at = timezone.now()
        participant.seed = derived_seed(study.seed, "participant", group.slug, number)
        participant.stage = Participant.Stage.INSTRUCTIONS
        participant.save()
        Trial.objects.bulk_create(draw_trials(participant))
    return participant


@dataclass(frozen=True)
class Pools:
    """A study's items by role, in a fixed order (by key) so that seeded draws are stable.

    Items the researcher dropped on the stimulus review page are in no pool: they never reach a
    participant."""

    training: list[StimulusItem]
    test: list[StimulusItem]
    attention: list[StimulusItem]

    @classmethod
    def of(cls, study: Study) -> Pools:
        items = list(study.items.exclude(review=StimulusItem.Review.DROP).order_by("key"))
        role = StimulusItem.Role
        return cls(
            training=[i for i in items if i.role == role.TRAINING],
            test=[i for i in items if i.role == role.TEST],
            attention=[i for i in items if i.role == role.ATTENTION],
        )

    def shortfalls(self, study: Study) -> list[str]:
        """What the study's settings ask for that these pools cannot give."""
        needs = (
            ("training", study.training_trials, self.training),
            ("test", study.test_trials, self.test),
            ("attention-check", study.attention_checks, self.attention),
        )
        return [
            f"{want} {name} trials per participant but only {len(have)} {name} items"
            for name, want, have in needs
            if len(have) < want
        ]


def draw_trials(participant: Participant) -> list[Trial]:
    """The participant's trials (unsaved): training items, then the test block with the
    attention checks at the study's positions; items in seeded random order, left/right sides
    of heatmaps and the order of labels drawn per trial."""
    study = participant.study
    pools = Pools.of(study)
    if shortfalls := pools.shortfalls(study):
        raise ValueError("; ".join(shortfalls))
    rng = random.Random(participant.seed)
    training = rng.sample(pools.training, study.training_trials)
    test_block: list[tuple[StimulusItem, bool]] = [
        (item, False) for item in rng.sample(pools.test, study.test_trials)
    ]
    checks = rng.sample(pools.attention, study.attention_checks)
    for position, item in zip(sorted(study.attention_check_positions), checks, strict=True):
        test_block.insert(position - 1, (item, True))
    sequence = [(item, Trial.Block.TRAINING, False) for item in training] + [
        (item, Trial.Block.TEST, check) for item, check in test_block
    ]
    return [
        Trial(
            participant=participant,
            position=position,
            block=block,
            item=item,
            condition=participant.condition,
            is_attention_check=check,
            heatmap_left=rng.choice("ab"),
            label_first=rng.choice("ab"),
        )
        for position, (item, block, check) in enumerate(sequence)
    ]
