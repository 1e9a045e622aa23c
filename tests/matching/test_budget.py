"""The false-alert budget function: expected FPIR/TPIR from the active calibration, and the uncalibrated answer."""

from __future__ import annotations

import dataclasses

import pytest

from compliance.choices import Role
from matching.budget import BudgetAssessment, expected_performance
from matching.models import AlertBudgetPolicy
from matching.services.calibration import alert_budget_update, calibration_record_approve, calibration_record_retire
from tests.matching.calibration_helpers import make_record


@pytest.fixture
def dpo(make_user):
    return make_user(Role.DPO, username="dpo")


@pytest.fixture
def active(dpo):
    return calibration_record_approve(actor=dpo, record=make_record())


def test_the_default_budget_is_one_false_alert_in_ten_thousand_faces(db):
    assert AlertBudgetPolicy.current().budget_fpir == 0.0001


def test_assessment_is_frozen_and_has_the_agreed_fields():
    names = [f.name for f in dataclasses.fields(BudgetAssessment)]
    assert names == [
        "calibrated",
        "expected_fpir",
        "expected_tpir",
        "false_alerts_per_10k",
        "budget_fpir",
        "budget_met",
        "record_id",
        "how",
        "message",
        "fpir_upper_bound",
        "non_mated_faces",
    ]
    assert BudgetAssessment.__dataclass_params__.frozen


def test_just_under_the_budget_is_met(active, settings):
    settings.LFR_BUDGET_CONFIDENCE = 0  # compare the point estimate alone
    result = expected_performance(watchlist_size=100, threshold=0.5, policy="threshold")

    assert result.calibrated and result.how == "exact" and result.record_id == active.pk
    assert result.expected_fpir == pytest.approx(0.00009)
    assert result.false_alerts_per_10k == pytest.approx(0.9)
    assert result.expected_tpir == pytest.approx(0.7)
    assert result.budget_fpir == 0.0001 and result.budget_met is True
    assert "This meets" in result.message and "0.9 in every 10,000" in result.message


def test_just_over_the_budget_is_not_met(active):
    result = expected_performance(watchlist_size=100, threshold=0.6, policy="threshold")

    assert result.expected_fpir == pytest.approx(0.00011)
    assert result.budget_met is False
    assert "does NOT meet" in result.message and "1.1 in every 10,000" in result.message


def test_margin_rule_uses_its_own_curve(active, settings):
    settings.LFR_BUDGET_CONFIDENCE = 0  # compare the point estimate alone
    result = expected_performance(watchlist_size=100, threshold=0.6, policy="margin", margin=0.05)

    assert result.expected_fpir == pytest.approx(0.000055)
    assert result.expected_tpir == pytest.approx(0.72)
    assert result.budget_met is True and "margin of 0.05" in result.message


def test_below_the_smallest_measured_size_the_margin_rule_is_bounded_by_the_threshold_rule(active, settings):
    """A shorter list puts the runner-up further away, so more unlisted faces clear the margin: the smallest size's
    margin-rule rate (0.55 per 10,000, within the budget) is no bound for 50 entries. The threshold rule's rate at
    that size (1.1, over the budget) is: the margin rule alerts on no more faces than it."""
    settings.LFR_BUDGET_CONFIDENCE = 0  # compare the point estimate alone

    result = expected_performance(watchlist_size=50, threshold=0.6, policy="margin", margin=0.05)

    assert result.how == "extrapolated" and result.calibrated
    assert result.expected_fpir == pytest.approx(0.00011)
    assert result.expected_tpir == pytest.approx(0.72)  # a shorter list finds listed faces at least as often
    assert result.budget_met is False and "does NOT meet" in result.message
    assert "Bounded by the plain threshold rule at the smallest watch-list measured (100)" in result.message
    # The threshold rule itself, and the margin rule at a measured size, are unchanged.
    plain = expected_performance(watchlist_size=50, threshold=0.5, policy="threshold")
    assert plain.expected_fpir == pytest.approx(0.00009) and plain.budget_met is True
    assert "a shorter list raises no more false alerts" in plain.message
    at_measured = expected_performance(watchlist_size=100, threshold=0.6, policy="margin", margin=0.05)
    assert at_measured.expected_fpir == pytest.approx(0.000055) and at_measured.budget_met is True


def test_a_size_between_measured_sizes_is_interpolated(active):
    result = expected_performance(watchlist_size=316, threshold=0.5, policy="threshold")

    assert result.how == "interpolated"
    assert 0.00009 < result.expected_fpir < 0.0009
    assert result.budget_met is False
    assert "Interpolated" in result.message


def test_a_size_beyond_the_largest_measured_is_extrapolated_and_says_so(active):
    result = expected_performance(watchlist_size=10_000, threshold=0.4, policy="threshold")

    assert result.how == "extrapolated"
    assert result.expected_fpir == pytest.approx(1 - (1 - 0.0002) ** 10)
    assert "Estimated beyond the largest watch-list measured (1,000)" in result.message


def test_raising_the_budget_changes_the_verdict(active, dpo):
    alert_budget_update(actor=dpo, budget_fpir=0.0002)

    result = expected_performance(watchlist_size=100, threshold=0.6, policy="threshold")

    assert result.budget_fpir == 0.0002 and result.budget_met is True


def test_a_threshold_outside_the_calibrated_grid_is_unknown_not_met(active):
    result = expected_performance(watchlist_size=100, threshold=0.65, policy="threshold")

    assert result.calibrated is True and result.expected_fpir is None and result.budget_met is None
    assert "cannot bound" in result.message


def test_without_an_active_record_the_answer_is_uncalibrated(db):
    make_record()  # a draft does not count

    result = expected_performance(watchlist_size=100, threshold=0.5, policy="threshold")

    assert result == BudgetAssessment(
        calibrated=False,
        expected_fpir=None,
        expected_tpir=None,
        false_alerts_per_10k=None,
        budget_fpir=0.0001,
        budget_met=None,
        record_id=None,
        how="uncalibrated",
        message=result.message,
    )
    assert result.message.startswith("Uncalibrated") and "No calibration has been approved" in result.message


def test_a_retired_record_is_not_used(active, dpo):
    calibration_record_retire(actor=dpo, record=active)

    assert expected_performance(watchlist_size=100, threshold=0.5, policy="threshold").calibrated is False


def test_a_changed_engine_setting_makes_the_active_record_stale_and_unused(active, settings):
    settings.LFR_NUM_JITTERS = 2

    result = expected_performance(watchlist_size=100, threshold=0.5, policy="threshold")

    active.refresh_from_db()
    assert active.is_stale
    assert result.calibrated is False and result.how == "uncalibrated" and result.budget_met is None
    assert "stale" in result.message


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"watchlist_size": 0, "threshold": 0.5, "policy": "threshold"}, "watchlist_size"),
        ({"watchlist_size": 10, "threshold": 0.5, "policy": "closest"}, "kind"),
        ({"watchlist_size": 10, "threshold": -1, "policy": "threshold"}, "threshold"),
    ],
)
def test_invalid_questions_are_refused(db, kwargs, error):
    with pytest.raises(ValueError, match=error):
        expected_performance(**kwargs)


def test_a_point_estimate_under_budget_without_enough_evidence_is_not_met(active):
    # 9 false alerts among 100,000 faces: 0.9 per 10,000 measured, but up to ~1.6 at 95 % confidence.
    result = expected_performance(watchlist_size=100, threshold=0.5, policy="threshold")

    assert result.expected_fpir == pytest.approx(0.00009)
    assert result.fpir_upper_bound == pytest.approx(0.000157, rel=0.02)
    assert result.non_mated_faces == 100_000
    assert result.budget_met is False
    assert "could be as high as" in result.message and "does NOT meet" in result.message


def test_zero_false_alerts_among_few_faces_proves_nothing(settings, make_user):
    from matching.services.calibration import calibration_record_approve
    from tests.matching.calibration_helpers import make_record, synthetic_size

    dpo = make_user("dpo", username="dpo-evidence")
    tiny = synthetic_size(100, {0.4: 0.0, 0.5: 0.0, 0.6: 0.0}, {0.4: 0.5, 0.5: 0.7, 0.6: 0.8})
    tiny["non_mated_probes"] = 5
    calibration_record_approve(actor=dpo, record=make_record(sizes=(tiny,)))

    result = expected_performance(watchlist_size=100, threshold=0.5, policy="threshold")

    assert result.expected_fpir == 0 and result.budget_met is False
    assert result.fpir_upper_bound > 0.4  # five faces cannot rule out a rate near one in two


def test_zero_false_alerts_among_many_faces_meets_the_budget(make_user):
    from matching.services.calibration import calibration_record_approve
    from tests.matching.calibration_helpers import make_record, synthetic_size

    dpo = make_user("dpo", username="dpo-evidence")
    large = synthetic_size(100, {0.4: 0.0, 0.5: 0.0, 0.6: 0.0}, {0.4: 0.5, 0.5: 0.7, 0.6: 0.8})
    large["non_mated_probes"] = 100_000
    calibration_record_approve(actor=dpo, record=make_record(sizes=(large,)))

    result = expected_performance(watchlist_size=100, threshold=0.5, policy="threshold")

    assert result.budget_met is True and result.fpir_upper_bound == pytest.approx(3.0e-5, rel=0.01)


@pytest.mark.parametrize(
    ("events", "trials", "expected"), [(0, 3000, 0.000998), (0, 5, 0.4507), (9, 100_000, 0.000157)]
)
def test_rate_upper_bound_is_the_clopper_pearson_bound(events, trials, expected):
    from matching.calibration import rate_upper_bound

    assert rate_upper_bound(events, trials) == pytest.approx(expected, rel=0.01)


def test_an_interpolated_rate_is_bounded_as_a_whole_event_never_rounded_down(settings):
    """4.5 expected false alerts in 100,000 trials is bounded as 5, not 4 (round() rounds half to even)."""
    from types import SimpleNamespace

    from matching import budget
    from matching.calibration import rate_upper_bound

    settings.LFR_BUDGET_CONFIDENCE = 0.95
    sizes = [{"size": n, "status": "ok", "non_mated_probes": 100_000} for n in (100, 1000)]
    record = SimpleNamespace(identification={"sizes": sizes})
    fpir = 4.5e-5

    upper, trials = budget._upper_bound(record, fpir, 316, [100, 1000])

    assert trials == 100_000
    assert upper == rate_upper_bound(5, 100_000, 0.95) > 1e-4 > rate_upper_bound(4, 100_000, 0.95)
