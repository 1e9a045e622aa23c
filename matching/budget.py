"""The false-alert budget: what a watch-list size, threshold and alert policy are expected to do on the street.

The watch-list approval and the deployment pages call `expected_performance`; it reads the active, non-stale
calibration record for the engine settings in force and the force's budget (AlertBudgetPolicy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from django.conf import settings

from matching.calibration import expected_rates, non_mated_probe_counts, rate_upper_bound
from matching.engine import AlertPolicy

How = Literal["exact", "interpolated", "extrapolated", "uncalibrated"]


@dataclass(frozen=True)
class BudgetAssessment:
    """Expected rates for one watch-list size and alert policy, and whether they meet the force's budget.

    `budget_met` is None when the answer is unknown: no usable calibration, or the calibration cannot bound the
    false-alert rate for this policy (it lies outside the measured grid). Callers must treat None as "not met".
    """

    calibrated: bool
    expected_fpir: float | None
    expected_tpir: float | None
    false_alerts_per_10k: float | None
    budget_fpir: float
    budget_met: bool | None
    record_id: int | None
    how: How
    message: str
    # The rate the calibration can vouch for at LFR_BUDGET_CONFIDENCE: a measured 0 among a few faces is no proof.
    fpir_upper_bound: float | None = None
    non_mated_faces: int | None = None


def _per_10k(rate: float) -> str:
    value = rate * 10_000
    if value == 0:
        return "0"
    if value < 0.1:
        return f"{value:.2g}"
    return f"{value:,.1f}".removesuffix(".0")


def _policy_words(policy: AlertPolicy) -> str:
    if policy.kind == "margin":
        return f"threshold {policy.threshold:.2f} with a margin of {policy.margin:.2f}"
    return f"threshold {policy.threshold:.2f}"


def budget_fpir() -> float:
    """The force's false-alert budget (share of faces not on the list that may raise an alert)."""
    from matching.models import AlertBudgetPolicy

    return AlertBudgetPolicy.current().budget_fpir


def expected_performance(
    *, watchlist_size: int, threshold: float, policy: str, margin: float = 0.0
) -> BudgetAssessment:
    """Expected FPIR/TPIR for a watch-list of `watchlist_size` under `policy` ("threshold" or "margin").

    Uses the active calibration record for the current engine fingerprint; with none (or only a stale one) the
    answer is calibrated=False, how="uncalibrated". Raises ValueError for an invalid size or policy. A margin
    given with policy="threshold" is ignored (that policy has no margin).
    """
    from matching.selectors.calibration import active_calibration_record, stale_active_calibration_exists

    if isinstance(watchlist_size, bool) or int(watchlist_size) != watchlist_size or watchlist_size < 1:
        raise ValueError(f"watchlist_size must be a positive integer, not {watchlist_size!r}")
    watchlist_size = int(watchlist_size)
    alert_policy = AlertPolicy(
        kind=policy,  # type: ignore[arg-type]  # validated by AlertPolicy
        threshold=float(threshold),
        margin=float(margin) if policy == "margin" else 0.0,
    )
    budget = budget_fpir()
    budget_words = f"the force's budget of {_per_10k(budget)} false alerts per 10,000 faces"
    setting_words = f"{watchlist_size:,} people on the watch-list at {_policy_words(alert_policy)}"

    record = active_calibration_record()
    curves = record.usable_curves() if record else {}
    if record is None or not curves:
        stale = stale_active_calibration_exists()
        if record is None and stale:
            why = (
                "The approved calibration was measured with different matcher settings or software, so it no "
                "longer applies (it is stale)."
            )
        elif record is not None:
            why = f"The approved calibration (record #{record.pk}) measured no watch-list size."
        else:
            why = "No calibration has been approved for the matcher settings in use."
        return BudgetAssessment(
            calibrated=False,
            expected_fpir=None,
            expected_tpir=None,
            false_alerts_per_10k=None,
            budget_fpir=budget,
            budget_met=None,
            record_id=None,
            how="uncalibrated",
            message=(
                f"Uncalibrated: the expected false-alert rate for {setting_words} is unknown. {why} The Data "
                f"Protection Officer must approve a calibration run before it can be checked against {budget_words}."
            ),
        )

    fpir, tpir, how = expected_rates(curves, watchlist_size, alert_policy)
    measured = sorted(int(size) for size in curves)
    measured_words = ", ".join(f"{s:,}" for s in measured)
    if how == "exact":
        basis = f"Measured directly by calibration record #{record.pk}."
    elif how == "interpolated":
        basis = f"Interpolated from calibration record #{record.pk} (watch-list sizes measured: {measured_words})."
    elif watchlist_size > measured[-1]:
        basis = (
            f"Estimated beyond the largest watch-list measured ({measured[-1]:,}) in calibration record "
            f"#{record.pk}, assuming each extra entry adds an independent chance of a false match; treat it as an "
            "estimate, not a measurement."
        )
    elif alert_policy.kind == "margin":
        # A shorter list can let more unlisted faces clear the margin (see expected_rates): say what bounds it.
        basis = (
            f"Bounded by the plain threshold rule at the smallest watch-list measured ({measured[0]:,}) in "
            f"calibration record #{record.pk}: the margin rule's own rate was not measured below that size, but it "
            "raises no more false alerts than the threshold rule, and a shorter list no more than that."
        )
    else:
        basis = (
            f"Bounded by the smallest watch-list measured ({measured[0]:,}) in calibration record #{record.pk}; "
            "a shorter list raises no more false alerts than that."
        )

    if fpir is None:
        return BudgetAssessment(
            calibrated=True,
            expected_fpir=None,
            expected_tpir=tpir,
            false_alerts_per_10k=None,
            budget_fpir=budget,
            budget_met=None,
            record_id=record.pk,
            how=how,
            message=(
                f"Unknown: calibration record #{record.pk} cannot bound the false-alert rate for {setting_words}, "
                "because that setting lies outside the range it measured. Choose a threshold (and margin) within "
                f"the calibrated range to check it against {budget_words}."
            ),
        )

    upper, trials = _upper_bound(record, fpir, watchlist_size, measured)
    met = upper <= budget
    if upper > fpir:
        evidence = (
            f" The calibration tested {trials:,} faces not on a list of that size, so at "
            f"{settings.LFR_BUDGET_CONFIDENCE:.0%} confidence the rate could be as high as {_per_10k(upper)} per "
            "10,000; the budget is checked against that figure."
        )
    else:
        evidence = ""
    tpir_words = (
        f" About {tpir:.0%} of listed people who pass the camera would be alerted."
        if tpir is not None
        else " The calibration cannot say how many listed people would be alerted."
    )
    verdict = "This meets" if met else "This does NOT meet"
    return BudgetAssessment(
        calibrated=True,
        expected_fpir=fpir,
        expected_tpir=tpir,
        false_alerts_per_10k=fpir * 10_000,
        budget_fpir=budget,
        budget_met=met,
        record_id=record.pk,
        how=how,
        message=(
            f"With {setting_words}, about {_per_10k(fpir)} in every 10,000 faces not on the list would raise a "
            f"false alert.{tpir_words}{evidence} {verdict} {budget_words}. {basis}"
        ),
        fpir_upper_bound=upper,
        non_mated_faces=trials,
    )


def _upper_bound(record: object, fpir: float, watchlist_size: int, measured: list[int]) -> tuple[float, int]:
    """The FPIR the calibration supports at the configured confidence, and how many non-listed faces it rests on.

    The bound comes from the non-mated probes of the measured sizes used (the fewest, to stay conservative);
    beyond the largest measured size it is scaled as the estimate is, one independent chance per extra entry.
    """
    confidence = float(settings.LFR_BUDGET_CONFIDENCE)
    counts = non_mated_probe_counts(record.identification or {})
    if confidence <= 0 or not counts:
        return fpir, min(counts.values(), default=0)
    if watchlist_size > measured[-1]:
        base = measured[-1]
        trials = counts.get(base, 0)
        measured_rate = _measured_fpir_at(record, base, fpir, watchlist_size)
        upper = rate_upper_bound(math.ceil(measured_rate * trials - 1e-9), trials, confidence)
        return max(fpir, 1.0 - (1.0 - upper) ** (watchlist_size / base)), trials
    used = [size for size in measured if size >= watchlist_size][:1] + [s for s in measured if s <= watchlist_size][-1:]
    trials = min(counts.get(size, 0) for size in used)
    # An interpolated rate is not a count of events: rounding it down (or half to even) would loosen the bound.
    return max(fpir, rate_upper_bound(math.ceil(fpir * trials - 1e-9), trials, confidence)), trials


def _measured_fpir_at(record: object, base: int, fpir: float, watchlist_size: int) -> float:
    """Undo the independence extrapolation to recover the rate measured at the largest calibrated size."""
    return 1.0 - (1.0 - fpir) ** (base / watchlist_size)
