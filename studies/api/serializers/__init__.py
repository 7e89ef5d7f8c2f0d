"""What each API resource shows.

- :mod:`.design` — studies, conditions, participant groups.
- :mod:`.stimuli` — stimulus items with their heatmap sets and manifest provenance.
- :mod:`.participants` — participants (progress) and trials (responses).
"""

from studies.api.serializers.design import (
    ConditionSerializer,
    GroupSerializer,
    StudySerializer,
)
from studies.api.serializers.participants import ParticipantSerializer, TrialSerializer
from studies.api.serializers.stimuli import ItemSerializer

__all__ = [
    "ConditionSerializer",
    "GroupSerializer",
    "ItemSerializer",
    "ParticipantSerializer",
    "StudySerializer",
    "TrialSerializer",
]
