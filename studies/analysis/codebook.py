"""Descriptions of every table and column the analysis writes (rendered to CODEBOOK.md)."""

from collections.abc import Mapping

import pandas as pd

_GROUP = "participant group (stratum), e.g. expert / non-expert"
_CONDITION = "condition: the explanation method shown, e.g. SWOX, CWOX-1sB, CWOX-2s"
_INTERVAL_NOTE = "NaN (empty) when the cell has fewer than 2 participants"

# table -> (what one row is, {column: meaning})
CODEBOOK: dict[str, tuple[str, dict[str, str]]] = {
    "trials": (
        "One analysed test trial: answered, not an attention check, not dropped as too fast, "
        "of a participant who was not excluded.",
        {
            "participant": "participant id",
            "group": _GROUP,
            "condition": _CONDITION,
            "item": "stimulus item id",
            "position": "position of the trial in the participant's sequence",
            "correct": "True when both heatmaps were matched to the right labels",
            "confidence": "confidence rating 1 (not sure) .. 5 (completely sure); empty if none",
            "response_ms": "client-measured response time in ms; empty if unknown",
        },
    ),
    "participants": (
        "One consented participant, analysed or not; statistics over their own analysable "
        "test trials (computed for excluded participants too).",
        {
            "participant": "participant id",
            "group": _GROUP + "; empty if never chosen",
            "condition": _CONDITION + "; empty if not assigned",
            "state": "active, completed or abandoned",
            "n_test_trials": "analysable test trials (answered, no attention checks, not too fast)",
            "n_correct": "of those, correctly matched",
            "accuracy": "n_correct / n_test_trials; empty if no test trial",
            "n_rated": "analysable test trials with a confidence rating",
            "mean_confidence": "mean confidence rating over those; empty if none",
            "n_too_fast": "answered test trials dropped as faster than min_response_ms",
            "n_attention_checks": "attention-check trials shown (any block)",
            "n_failed_attention_checks": "attention checks answered wrongly",
            "excluded": "True when the participant is left out of the analysis",
            "exclusion_reason": "first exclusion reason that applies (see exclusions); empty "
            "if analysed",
        },
    ),
    "summary": (
        "One group × condition × measure (accuracy: mean over participants of their share of "
        "correct test trials; confidence: mean over participants of their mean rating).",
        {
            "group": _GROUP,
            "condition": _CONDITION,
            "measure": "accuracy or confidence",
            "mean": "point estimate (pooled share of correct trials for a Wilson interval)",
            "ci_low": "lower bound of the 95% interval; " + _INTERVAL_NOTE,
            "ci_high": "upper bound of the 95% interval; " + _INTERVAL_NOTE,
            "sd": "sample sd (ddof 1) of the participant means; empty below 2 participants",
            "n_participants": "participants contributing to the measure",
            "n_trials": "test trials contributing to the measure",
            "interval_method": "t: mean ± t(0.975, n-1)·sd/sqrt(n) over participant means; "
            "t-clipped: that interval clipped to the scale of the measure (accuracy [0, 1], "
            "confidence [1, 5]); wilson: Wilson score interval on pooled trials; bootstrap: "
            "two-way cluster bootstrap percentile interval (participants × items)",
            "formatted": "cell text with participants per cell: '0.83 ± 0.09 (n=12)' (t, "
            "half-width), '0.60 [0.00, 1.00] (n=2)†' (clipped t and other intervals), "
            "'1.00 (n=1)†' without interval, empty without data; † fewer than 5 participants, "
            "‡ no spread between participants (zero-width interval)",
            "note": "the marks of the cell in words; empty when none applies",
        },
    ),
    "paper": (
        "The paper's Tab. 4/5 layout, one block of rows per group: rows accuracy and "
        "confidence, one column per condition.",
        {
            "group": _GROUP,
            "measure": "accuracy or confidence",
            "<condition>": "one column per condition, in study order: the summary's formatted "
            "cell, with its participants (n=...) and marks († fewer than 5 participants, ‡ no "
            "spread between participants)",
        },
    ),
    "comparisons": (
        "One test of one pair of conditions (a vs b) within a group, for one measure.",
        {
            "group": _GROUP,
            "measure": "accuracy or confidence",
            "condition_a": "first condition of the pair (study order)",
            "condition_b": "second condition of the pair",
            "test": "welch_t (participant means), mann_whitney_u (participant means), "
            "chi_square (pooled trials, Yates-corrected) or fisher_exact (pooled trials, when "
            "an expected count is < 5)",
            "n_participants_a": "participants in a with a value for the measure",
            "n_participants_b": "participants in b with a value for the measure",
            "n_trials_a": "test trials in a contributing to the measure",
            "n_trials_b": "test trials in b contributing to the measure",
            "mean_a": "mean of participant means in a (pooled share correct for the pooled tests)",
            "mean_b": "the same for b",
            "difference": "mean_a - mean_b",
            "statistic": "t (Welch), U of a (Mann-Whitney), chi-square, or odds ratio (Fisher)",
            "df": "degrees of freedom (Welch-Satterthwaite for t, 1 for chi-square); empty "
            "otherwise",
            "p_value": "two-sided p-value; empty when there is no test (see note)",
            "p_holm": "Holm-adjusted p-value across the tested pairs of the same group, measure "
            "and test family (Welch; Mann-Whitney; chi-square/Fisher)",
            "effect_size": "cohens_d (Welch rows), rank_biserial (Mann-Whitney rows), "
            "cohens_h (pooled rows)",
            "effect": "effect size of a vs b: d = difference / pooled sd; r = 2U/(n_a n_b) - "
            "1; h = 2 asin(sqrt(p_a)) - 2 asin(sqrt(p_b))",
            "effect_ci_low": "95% interval of the effect (d: noncentral t; h: normal "
            "approximation h ± 1.96 sqrt(1/n_a + 1/n_b)); empty for rank_biserial",
            "effect_ci_high": "upper bound of that interval",
            "note": "why there is no test (fewer than 2 participants in a condition; no spread "
            "in either condition; all participants tied; one outcome in every trial), or a "
            "zero cell of the 2x2 table; empty otherwise",
        },
    ),
    "calibration": (
        "Accuracy of the pooled rated test trials of one group × condition at one confidence "
        "level.",
        {
            "group": _GROUP,
            "condition": _CONDITION,
            "confidence": "confidence level 1..5",
            "n_participants": "participants who gave this rating at least once",
            "n_trials": "test trials rated at this level",
            "n_correct": "of those, correct",
            "accuracy": "n_correct / n_trials; empty when n_trials is 0",
            "ci_low": "Wilson 95% interval, lower bound; " + _INTERVAL_NOTE,
            "ci_high": "Wilson 95% interval, upper bound; " + _INTERVAL_NOTE,
        },
    ),
    "calibration_auroc": (
        "Whether confidence separates right from wrong answers, per group × condition.",
        {
            "group": _GROUP,
            "condition": _CONDITION,
            "n_correct": "rated correct test trials",
            "n_wrong": "rated wrong test trials",
            "auroc": "P(rating of a correct answer > rating of a wrong one) + 0.5 P(tie) "
            "= U / (n_correct n_wrong); 0.5 = no information",
            "mann_whitney_u": "Mann-Whitney U of the correct answers' ratings",
            "p_value": "two-sided asymptotic Mann-Whitney p-value (tie-corrected)",
        },
    ),
    "exclusions": (
        "One exclusion reason: whether the study's rules apply it, and how many participants "
        "and test trials it removed.",
        {
            "reason": "not assigned, incomplete, failed attention checks, no test trials "
            "(participant level, checked in this order) or faster than min_response_ms "
            "(trial level)",
            "level": "participant or trial",
            "applied": "whether the study's rules apply this reason",
            "n_participants": "participants excluded for this reason (first reason that applies)",
            "n_participants_meeting": "participants meeting the criterion whatever the order "
            "or whether it is applied; empty when the rule has no threshold",
            "n_test_trials": "answered non-attention test trials removed by this reason",
        },
    ),
    "flow": (
        "One step of the CONSORT-style flow invited -> consented -> assigned -> completed -> "
        "analysed.",
        {
            "step": "name of the stage or of what was removed",
            "kind": "stage (a count), removed (subtracted between the surrounding stages) or "
            "info (shown only)",
            "n_participants": "participants; empty when unknown",
            "n_test_trials": "answered non-attention test trials; empty before assignment",
        },
    ),
    "mixed_model": (
        "One term of the mixed-effects logistic regression of correctness of one group "
        "(variational Bayes, participant and item random intercepts).",
        {
            "group": _GROUP,
            "term": "intercept, a condition (vs the reference), sd(participant) or sd(item)",
            "reference": "reference condition of the treatment coding",
            "estimate": "posterior mean: log-odds (intercept), log odds ratio (condition), "
            "random-intercept sd (sd rows)",
            "sd": "posterior sd of the log-odds terms; empty for sd rows",
            "ci_low": "95% interval, lower bound (estimate ± 1.96 sd; sd rows: on log sd)",
            "ci_high": "95% interval, upper bound",
            "odds_ratio": "exp(estimate) for intercept and condition rows",
            "n_participants": "participants in the fit",
            "n_items": "items in the fit",
            "n_trials": "trials in the fit",
            "converged": "whether the optimiser reported success",
        },
    ),
    "power": (
        "Simulated power of one planned comparison and test within a group at one number of "
        "participants per cell (studies drawn with participant and item random effects, each "
        "analysed as the study's analysis does, Holm-corrected within group and test family).",
        {
            "group": _GROUP,
            "condition_a": "first condition of the pair",
            "condition_b": "second condition of the pair",
            "test": "welch_t (participant means) or pooled (chi-square with Yates / Fisher on "
            "pooled trials)",
            "n_per_cell": "participants per group × condition in each simulated study",
            "accuracy_a": "assumed marginal accuracy of condition a",
            "accuracy_b": "assumed marginal accuracy of condition b",
            "power": "share of simulated studies with Holm-adjusted p < alpha",
            "mc_se": "Monte Carlo standard error sqrt(power (1 - power) / simulations)",
            "simulations": "simulated studies behind the power",
        },
    ),
    "power_needed": (
        "Participants per cell needed for 80% and 90% power, per planned comparison and test "
        "within a group: the smallest simulated n reaching the target.",
        {
            "group": _GROUP,
            "condition_a": "first condition of the pair",
            "condition_b": "second condition of the pair",
            "test": "welch_t or pooled (see power)",
            "accuracy_a": "assumed marginal accuracy of condition a",
            "accuracy_b": "assumed marginal accuracy of condition b",
            "n_80": "smallest simulated n per cell with power >= 0.8; empty when none reaches it",
            "n_90": "smallest simulated n per cell with power >= 0.9; empty when none reaches it",
        },
    ),
}


def describe_column(table: str, column: str) -> str | None:
    """The codebook's meaning of `column` in `table`; condition columns of the paper table
    map to "<condition>". None when the codebook does not describe it."""
    if table not in CODEBOOK:
        return None
    columns = CODEBOOK[table][1]
    if column in columns:
        return columns[column]
    if table == "paper":
        return columns["<condition>"]
    return None


def codebook_markdown(
    tables: Mapping[str, pd.DataFrame], captions: Mapping[str, str] | None = None
) -> str:
    """CODEBOOK.md text for the given tables: per table its caption (`captions[name]`, else
    what a row is), then each column with its type and meaning ("not described" for columns
    outside the codebook)."""
    lines = [
        "# Codebook",
        "",
        "Tables written by `studies.analysis.write_tables`. Empty cells are missing values.",
    ]
    for name, table in tables.items():
        row_meaning = CODEBOOK[name][0] if name in CODEBOOK else "not described"
        if captions is not None and name in captions:
            row_meaning = captions[name]
        lines += [
            "",
            f"## {name}",
            "",
            row_meaning,
            "",
            "| column | type | meaning |",
            "|---|---|---|",
        ]
        for column in table.columns:
            meaning = describe_column(name, column) or "not described"
            lines.append(f"| {column} | {table[column].dtype} | {meaning} |")
    return "\n".join(lines) + "\n"
