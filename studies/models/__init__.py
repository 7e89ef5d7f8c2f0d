"""The study platform's data: see ``docs`` in ``../shared/docs/DESIGN.md`` ("Study platform").

- :mod:`studies.models.study` — Study, Condition, ParticipantGroup, InstructionImage.
- :mod:`studies.models.stimuli` — StimulusManifest, StimulusItem, HeatmapSet.
- :mod:`studies.models.participants` — Participant, ExternalIdentity, Invite, ConsentDecline,
  Trial.
"""

from studies.jobs.models import Job, JobChunk
from studies.models.participants import (
    ConsentDecline,
    ExternalIdentity,
    Invite,
    Participant,
    Trial,
)
from studies.models.stimuli import HeatmapSet, StimulusItem, StimulusManifest
from studies.models.study import Condition, InstructionImage, ParticipantGroup, Study

__all__ = [
    "Condition",
    "ConsentDecline",
    "ExternalIdentity",
    "HeatmapSet",
    "InstructionImage",
    "Invite",
    "Job",
    "JobChunk",
    "Participant",
    "ParticipantGroup",
    "StimulusItem",
    "StimulusManifest",
    "Study",
    "Trial",
]
