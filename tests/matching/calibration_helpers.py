"""Build calibration records with synthetic curves, through the service, for budget and portal tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from matching.config import engine_config
from matching.models import CalibrationRecord
from matching.services.calibration import calibration_record_create

THRESHOLDS = (0.4, 0.5, 0.6)
MARGINS = (0.0, 0.05)


def synthetic_size(size: int, fpir_by_threshold: Mapping[float, float], tpir_by_threshold: Mapping[float, float]):
    """One measured size: the threshold curve as given; the margin rule halves FPIR and keeps 90 % of TPIR."""
    threshold_curve = [
        {"threshold": t, "margin": 0.0, "tpir": tpir_by_threshold[t], "fpir": fpir_by_threshold[t]} for t in THRESHOLDS
    ]
    margin_curve = [
        {
            "threshold": t,
            "margin": m,
            "tpir": tpir_by_threshold[t] * (0.9 if m else 1.0),
            "fpir": fpir_by_threshold[t] * (0.5 if m else 1.0),
        }
        for m in MARGINS
        for t in THRESHOLDS
    ]
    return {
        "size": size,
        "status": "ok",
        "mated_probes": 1000,
        "non_mated_probes": 100_000,
        "curves": {"threshold": threshold_curve, "margin": margin_curve},
    }


# At 100 on the list: 0.5 gives 0.9 false alerts per 10,000 (under the default budget), 0.6 gives 1.1 (over).
DEFAULT_SIZES = (
    synthetic_size(100, {0.4: 0.00002, 0.5: 0.00009, 0.6: 0.00011}, {0.4: 0.5, 0.5: 0.7, 0.6: 0.8}),
    synthetic_size(1000, {0.4: 0.0002, 0.5: 0.0009, 0.6: 0.0011}, {0.4: 0.4, 0.5: 0.6, 0.6: 0.7}),
)


RUNNER = "calibration-helper-runner"
_UNSET: Any = object()


def runner() -> Any:
    """Who ran the helper's records: a person, as `calibrate --user` requires (no DPO approves their own run)."""
    from django.contrib.auth import get_user_model

    from compliance.choices import Role

    return get_user_model().objects.get_or_create(username=RUNNER, defaults={"role": Role.DPO})[0]


def make_record(*, actor: Any = _UNSET, sizes: tuple[dict, ...] = DEFAULT_SIZES, **overrides: Any) -> CalibrationRecord:
    if actor is _UNSET:
        actor = runner()
    identification = {
        "seed": 0,
        "identities": 5000,
        "identities_with_two_or_more_images": 1680,
        "images": 13000,
        "thresholds": list(THRESHOLDS),
        "margins": list(MARGINS),
        "sizes": list(sizes),
    }
    values: dict[str, Any] = {
        "actor": actor,
        "config": engine_config(),
        "dataset_path": "/data/synthetic",
        "dataset_hash": "a" * 64,
        "description": "synthetic curves",
        "identities": 5000,
        "images": 13000,
        "failed_images": 0,
        "pairs": 0,
        "identification": identification,
        "operating_points": [],
        "budget_fpir": 0.0001,
        "policy_threshold": 0.6,
        "det_plot": b"\x89PNG\r\n\x1a\nfake",
    }
    values.update(overrides)
    return calibration_record_create(**values)
