"""Statistics of a matching study: pure Python (pandas, scipy, statsmodels), no Django.

Participants match two explanation heatmaps to two class labels and rate their confidence
1..5. Each participant belongs to one participant group (e.g. "expert") and is randomized to
one condition (an explanation method, e.g. "SWOX", "CWOX-1sB", "CWOX-2s"). `analyse` turns the
two input tables below into a `StudyTables`; `write_tables` and `plots` export them.

Input schema (checked by `schema.validate_study`; a missing column, a wrong type or value
raises `ValueError` naming the column):

`trials`, one row per trial shown:

=================== ========= ===========================================================
column              type      meaning
=================== ========= ===========================================================
participant         str       participant id
group               str       participant group (same on all of a participant's trials)
condition           str       condition (same on all of a participant's trials)
item                str       stimulus item id
block               str       "training" or "test"
position            int       position in the participant's trial sequence
is_attention_check  bool      the trial is an attention check
answered            bool      a response was stored
correct             boolean   both heatmaps matched to the right labels; NA when not answered
confidence          Int64     rating 1..5; NA when not answered (or not asked)
response_ms         float     client-measured response time in ms; NaN when unknown
=================== ========= ===========================================================

`participants`, one row per participant who consented:

=========== ===== ======================================================================
column      type  meaning
=========== ===== ======================================================================
participant str   participant id (unique); every trial's participant must be here
group       str   participant group; NA when never chosen
condition   str   condition; NA when not yet assigned
state       str   "active", "completed" or "abandoned"
=========== ===== ======================================================================

Flow counts are plain ints: `declined` (consent refused) and `invited` (None when unknown).
Extra columns are ignored. Empty tables with these columns (`schema.empty_trials()`,
`schema.empty_participants()`) give empty result tables with the right headers.

Accuracy counts answered test-block trials that are not attention checks; attention checks (in
any block) only feed the exclusion rule.

Power planning: `simulate_power(PowerDesign(...), n_per_cell)` draws seeded studies with
participant and item random effects and analyses each with the tests of `compare_conditions`
(module `power`); `estimate_from_trials` takes the inputs from a pilot's trials.
"""

from .calibration import calibration_by_confidence, confidence_auroc
from .comparisons import cohens_d, cohens_h, compare_conditions
from .exclusions import ExclusionRules, Exclusions, apply_exclusions, flow_table
from .export import FORMATS, write_tables
from .intervals import Interval, cluster_bootstrap_interval, t_interval, wilson_interval
from .mixed import mixed_logit
from .plots import plot_calibration, plot_power, plot_summary, save_figure
from .power import (
    DEFAULT_N_PER_CELL,
    TARGETS,
    TESTS,
    power_by_n,
    required_participants,
    simulate_power,
)
from .power_design import PowerDesign, design_from_accuracy, parse_accuracy, parse_counts
from .power_pilot import PilotEstimate, estimate_from_trials
from .schema import empty_participants, empty_trials, validate_study
from .summary import INTERVAL_METHODS, MEASURES, paper_table, summarise
from .tables import StudyTables, analyse

__all__ = [
    "DEFAULT_N_PER_CELL",
    "FORMATS",
    "INTERVAL_METHODS",
    "MEASURES",
    "TARGETS",
    "TESTS",
    "ExclusionRules",
    "Exclusions",
    "Interval",
    "PilotEstimate",
    "PowerDesign",
    "StudyTables",
    "analyse",
    "apply_exclusions",
    "calibration_by_confidence",
    "cluster_bootstrap_interval",
    "cohens_d",
    "cohens_h",
    "compare_conditions",
    "confidence_auroc",
    "design_from_accuracy",
    "empty_participants",
    "empty_trials",
    "estimate_from_trials",
    "flow_table",
    "mixed_logit",
    "paper_table",
    "parse_accuracy",
    "parse_counts",
    "plot_calibration",
    "plot_power",
    "plot_summary",
    "power_by_n",
    "required_participants",
    "save_figure",
    "simulate_power",
    "summarise",
    "t_interval",
    "validate_study",
    "wilson_interval",
    "write_tables",
]
