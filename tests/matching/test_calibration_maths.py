"""Calibration maths: pairs files, verification, the 1:N simulation, operating points and rate look-ups."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest

from matching import calibration
from matching.calibration import (
    curves_by_size,
    expected_rates,
    group_report,
    identification_simulation,
    operating_point,
    pair_distances,
    parse_pairs,
    plot_det,
    verification_report,
)
from matching.engine import AlertPolicy, EngineConfig, Gallery, decode_image, detect_faces, encode_faces, match
from tests.shared_data import faces_dir

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _point(curve: list[dict], threshold: float, margin: float = 0.0) -> dict:
    return next(p for p in curve if math.isclose(p["threshold"], threshold) and math.isclose(p["margin"], margin))


# --- pairs files ----------------------------------------------------------------------------------------------


def test_count_header_with_the_total_number_of_pairs():
    parsed = parse_pairs("3\nAnn\t1\t2\nBob 1 3\nAnn 1 Bob 2\n")
    assert [(p.name1, p.index1, p.name2, p.index2, p.same) for p in parsed.pairs] == [
        ("Ann", 1, "Ann", 2, True),
        ("Bob", 1, "Bob", 3, True),
        ("Ann", 1, "Bob", 2, False),
    ]
    assert parsed.folds is None
    assert parsed.images() == [("Ann", 1), ("Ann", 2), ("Bob", 1), ("Bob", 2), ("Bob", 3)]


def test_count_header_with_that_many_pairs_of_each_kind():
    parsed = parse_pairs("1\nAnn 1 2\nAnn 1 Bob 1\n\n")
    assert [p.same for p in parsed.pairs] == [True, False]


def test_folds_header_assigns_each_pair_its_fold():
    text = "2 1\nAnn 1 2\nAnn 1 Bob 1\nBob 1 2\nBob 2 Cat 1\n"
    parsed = parse_pairs(text)
    assert (parsed.folds, parsed.pairs_per_fold) == (2, 1)
    assert [(p.fold, p.same) for p in parsed.pairs] == [(0, True), (0, False), (1, True), (1, False)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2\nAnn 1 2\nAnn one 2\n", "line 3: image number must be a whole number"),
        ("2\nAnn 1 2\nAnn 1 2 Bob 3\n", "line 3: expected 'Name i j' or 'Name1 i Name2 j'"),
        ("1\nAnn 0 2\n", "line 2: image number must be at least 1"),
        ("1\nAnn 1 Ann 2\n", "line 2: a different-person line names 'Ann' twice"),
        ("5\nAnn 1 2\n", "line 1: the header announces 5 pairs but 1 pair lines follow"),
        ("1 1\nAnn 1 Bob 2\nAnn 1 2\n", "line 2: expected a same-person 'Name i j' line in fold 1"),
        ("2 1\nAnn 1 2\n", "2 folds of 1 same and 1 different pairs need 4 lines, but 1 follow"),
        ("a b c\n", "line 1: the header must be"),
        ("\n\n", "empty"),
    ],
)
def test_bad_pairs_files_name_the_line(text, message):
    with pytest.raises(ValueError, match=message):
        parse_pairs(text)


# --- verification ---------------------------------------------------------------------------------------------


def _pairs(same: int, different: int) -> calibration.PairsFile:
    lines = [f"P{i} 1 2" for i in range(same)] + [f"P{i} 1 Q{i} 1" for i in range(different)]
    return parse_pairs(f"{same + different}\n" + "\n".join(lines))


def test_verification_at_a_threshold():
    pairs = _pairs(4, 4)
    distances = [0.3, 0.4, 0.5, 0.7, 0.55, 0.8, 0.9, 1.0]
    report = verification_report(pairs, distances, 0.6)
    assert (report["tar"], report["far"], report["accuracy"]) == (0.75, 0.25, 0.75)
    # Accepting the three nearest (all same) and accepting five (one different) both score 7/8; the first wins,
    # mid-way between 0.5 and 0.55.
    assert report["best_accuracy"] == 7 / 8
    assert report["best_threshold"] == pytest.approx(0.525)
    assert report["cross_validation"] is None


def test_verification_counts_missing_faces_as_rejections():
    report = verification_report(_pairs(2, 2), [0.3, float("nan"), 0.8, float("nan")], 0.6)
    assert report["failed_pairs"] == 2
    assert (report["tar"], report["far"], report["accuracy"]) == (0.5, 0.0, 0.75)


def test_verification_cross_validates_over_folds():
    text = "2 2\nA 1 2\nB 1 2\nA 1 B 1\nA 2 B 2\nC 1 2\nD 1 2\nC 1 D 1\nC 2 D 2\n"
    pairs = parse_pairs(text)
    distances = [0.2, 0.3, 0.8, 0.9, 0.5, 0.6, 0.55, 0.95]
    cv = verification_report(pairs, distances, 0.6)["cross_validation"]
    # Fold 2 trains a threshold of 0.525 that separates fold 1 perfectly; fold 1 trains 0.55, which gets half
    # of fold 2 wrong (0.6 same rejected, 0.55 different accepted).
    assert cv["fold_thresholds"] == pytest.approx([0.525, 0.55])
    assert cv["fold_accuracies"] == [1.0, 0.5]
    assert (cv["accuracy_mean"], cv["accuracy_std"]) == (0.75, 0.25)


def test_verification_ten_folds_of_separable_distances():
    lines = []
    for fold in range(10):
        lines += [f"S{fold}_{k} 1 2" for k in range(3)] + [f"S{fold}_{k} 1 D{fold}_{k} 1" for k in range(3)]
    pairs = parse_pairs("10 3\n" + "\n".join(lines))
    rng = np.random.default_rng(0)
    distances = np.concatenate([np.r_[rng.uniform(0.2, 0.5, 3), rng.uniform(0.7, 1.0, 3)] for _ in range(10)])
    report = verification_report(pairs, distances, 0.6)
    assert report["accuracy"] == 1.0
    assert report["cross_validation"]["accuracy_mean"] == 1.0
    assert report["cross_validation"]["accuracy_std"] == 0.0


def test_verification_refuses_misaligned_distances():
    with pytest.raises(ValueError, match="2 pairs but 3 distances"):
        verification_report(_pairs(1, 1), [0.1, 0.2, 0.3], 0.6)


# --- identification -------------------------------------------------------------------------------------------


def _clusters(
    identities: int, images: int, singles: int, *, spread: float, radius: float = 3.0, seed: int = 0
) -> dict[str, np.ndarray]:
    """Identities as clusters around random centres about radius·√2 apart, plus some one-image identities."""
    rng = np.random.default_rng(seed)
    out = {}
    for k in range(identities + singles):
        centre = rng.normal(size=128)
        centre *= radius / np.linalg.norm(centre)
        count = images if k < identities else 1
        scale = spread * rng.uniform(0.5, 1.5)
        out[f"id{k:03d}"] = (centre + rng.normal(scale=scale, size=(count, 128))).astype(np.float32)
    return out


def _face_like(seed: int = 2) -> dict[str, np.ndarray]:
    """Clusters whose distances overlap across the 0.3-0.7 grid the way real encodings do."""
    return _clusters(40, 3, 10, spread=0.025, radius=0.4, seed=seed)


def test_well_separated_identities_are_found_without_false_alerts():
    result = identification_simulation(_clusters(20, 3, 5, spread=0.01), [5, 20])
    assert (result["identities"], result["identities_with_two_or_more_images"], result["images"]) == (25, 20, 65)
    for entry in result["sizes"]:
        point = _point(entry["curves"]["threshold"], 0.5)
        assert (point["tpir"], point["fpir"]) == (1.0, 0.0)
        assert _point(entry["curves"]["margin"], 0.5, 0.1)["tpir"] == 1.0
    small, full = result["sizes"]
    assert (small["mated_probes"], small["non_mated_probes"]) == (10, 15 * 3 + 5)
    assert (full["mated_probes"], full["non_mated_probes"]) == (40, 5)


def test_sizes_the_dataset_cannot_fill_are_refused_not_faked():
    result = identification_simulation(_clusters(4, 2, 3, spread=0.01), [2, 4, 5, 100])
    statuses = [(e["size"], e["status"]) for e in result["sizes"]]
    assert statuses == [(2, "ok"), (4, "ok"), (5, "refused"), (100, "refused")]
    assert result["sizes"][2]["available"] == 4
    assert "the dataset has 4" in result["sizes"][2]["reason"]
    assert set(curves_by_size(result)) == {2, 4}


def test_fpir_is_not_measurable_without_non_mated_probes():
    result = identification_simulation(_clusters(3, 2, 0, spread=0.01), [3])
    curves = result["sizes"][0]["curves"]
    assert result["sizes"][0]["non_mated_probes"] == 0
    assert all(p["fpir"] is None for p in curves["threshold"] + curves["margin"])
    assert _point(curves["threshold"], 0.5)["tpir"] == 1.0


def test_simulation_is_seeded():
    data = _clusters(30, 2, 0, spread=0.2)
    assert identification_simulation(data, [10], seed=4) == identification_simulation(data, [10], seed=4)
    assert identification_simulation(data, [10], seed=4) != identification_simulation(data, [10], seed=5)


def test_vectorised_curves_match_the_live_policy_face_by_face():
    data = _face_like()
    result = identification_simulation(data, [25], seed=9)
    plan = calibration._Plan(data, seed=9)
    chosen = plan.order[:25]
    gallery_ids = list(chosen)
    gallery = np.stack([data[n][plan.enrolled_image[n]] for n in chosen])
    built = Gallery.build(gallery, gallery_ids)
    mated = [(n, row) for n in chosen for i, row in enumerate(data[n]) if i != plan.enrolled_image[n]]
    others = [row for n in data if n not in chosen for row in data[n]]
    curves = result["sizes"][0]["curves"]
    for threshold, margin in [(0.3, 0.0), (0.45, 0.0), (0.55, 0.03), (0.7, 0.1), (0.62, 0.05)]:
        policy = AlertPolicy("margin", threshold, margin=margin)
        hits = match(np.stack([row for _, row in mated]), built, policy)
        tpir = np.mean([v.alert and v.entry_id == name for v, (name, _) in zip(hits, mated, strict=True)])
        fpir = np.mean([v.alert for v in match(np.stack(others), built, policy)])
        point = _point(curves["margin"], threshold, margin)
        assert (point["tpir"], point["fpir"]) == (pytest.approx(tpir), pytest.approx(fpir))
    assert 0.0 < _point(curves["threshold"], 0.6)["fpir"] < 1.0
    assert _point(curves["margin"], 0.6, 0.05)["fpir"] < _point(curves["threshold"], 0.6)["fpir"]


def test_group_report_splits_probes_by_group():
    data = _clusters(10, 3, 4, spread=0.01)
    groups = {name: ("A" if k % 2 else "B") for k, name in enumerate(sorted(data)) if k != 0}
    report = group_report(data, groups, [6, 50])
    overall = identification_simulation(data, [6])["sizes"][0]
    assert report["unlabelled_identities"] == 1
    assert set(report["groups"]) == {"A", "B"}
    a, b = report["groups"]["A"]["sizes"][0], report["groups"]["B"]["sizes"][0]
    assert a["mated_probes"] + b["mated_probes"] <= overall["mated_probes"]
    assert a["non_mated_probes"] + b["non_mated_probes"] <= overall["non_mated_probes"]
    assert _point(a["curves"]["threshold"], 0.5)["tpir"] == 1.0
    assert report["groups"]["A"]["sizes"][1]["status"] == "refused"


# --- operating points and expected rates --------------------------------------------------------------------------


CURVE = [
    {"threshold": 0.50, "margin": 0.0, "tpir": 0.60, "fpir": 0.0},
    {"threshold": 0.55, "margin": 0.0, "tpir": 0.70, "fpir": 0.0001},
    {"threshold": 0.58, "margin": 0.0, "tpir": 0.70, "fpir": 0.0001},
    {"threshold": 0.60, "margin": 0.0, "tpir": 0.80, "fpir": 0.002},
    {"threshold": 0.65, "margin": 0.0, "tpir": 0.90, "fpir": None},
]


def test_operating_point_is_the_best_tpir_within_budget_with_ties_to_the_stricter():
    assert operating_point(CURVE, 0.0001)["threshold"] == 0.55
    assert operating_point(CURVE, 0.01)["threshold"] == 0.60
    assert operating_point(CURVE, 0.0)["threshold"] == 0.50
    assert operating_point(CURVE, -1.0) is None
    assert operating_point([], 0.1) is None


def test_operating_point_prefers_the_larger_margin_on_ties():
    curve = [
        {"threshold": 0.6, "margin": 0.0, "tpir": 0.5, "fpir": 0.001},
        {"threshold": 0.6, "margin": 0.05, "tpir": 0.5, "fpir": 0.0005},
    ]
    assert operating_point(curve, 0.001)["margin"] == 0.05


def _curves_for(fpir_by_threshold: dict[float, float], tpir: float) -> dict[str, list[dict]]:
    points = [{"threshold": t, "margin": 0.0, "tpir": tpir, "fpir": f} for t, f in fpir_by_threshold.items()]
    return {"threshold": points, "margin": points}


SIZES = {
    10: _curves_for({0.55: 0.001, 0.60: 0.01, 0.61: 0.012}, tpir=0.9),
    "100": _curves_for({0.55: 0.01, 0.60: 0.10, 0.61: 0.12}, tpir=0.7),
}


def test_expected_rates_exact_at_a_calibrated_size():
    assert expected_rates(SIZES, 10, AlertPolicy("threshold", 0.6)) == (0.01, 0.9, "exact")
    assert expected_rates(SIZES, 100, AlertPolicy("threshold", 0.6)) == (0.10, 0.7, "exact")


def test_expected_rates_interpolate_in_log_size():
    fpir, tpir, how = expected_rates(SIZES, 30, AlertPolicy("threshold", 0.6))
    weight = math.log(3) / math.log(10)
    assert how == "interpolated"
    assert fpir == pytest.approx(0.01 + weight * 0.09)
    assert tpir == pytest.approx(0.9 - weight * 0.2)


def test_expected_rates_extrapolate_fpir_as_independent_comparisons():
    fpir, tpir, how = expected_rates(SIZES, 1000, AlertPolicy("threshold", 0.6))
    assert how == "extrapolated"
    assert fpir == pytest.approx(1 - 0.9**10)
    assert tpir == 0.7
    assert expected_rates(SIZES, 5, AlertPolicy("threshold", 0.6)) == (0.01, 0.9, "extrapolated")


def test_expected_rates_never_flatter_an_off_grid_threshold():
    fpir, tpir, _ = expected_rates(SIZES, 10, AlertPolicy("threshold", 0.605))
    assert (fpir, tpir) == (0.012, 0.9)
    assert expected_rates(SIZES, 10, AlertPolicy("threshold", 0.9))[0] is None
    assert expected_rates(SIZES, 10, AlertPolicy("threshold", 0.3))[1] is None


def test_expected_rates_use_the_policy_kind_and_margin():
    curves = {
        50: {
            "threshold": [{"threshold": 0.6, "margin": 0.0, "tpir": 0.8, "fpir": 0.05}],
            "margin": [
                {"threshold": 0.6, "margin": 0.0, "tpir": 0.8, "fpir": 0.05},
                {"threshold": 0.6, "margin": 0.05, "tpir": 0.7, "fpir": 0.01},
            ],
        }
    }
    assert expected_rates(curves, 50, AlertPolicy("margin", 0.6, margin=0.05)) == (0.01, 0.7, "exact")
    # A margin between grid points: FPIR from the smaller margin, TPIR from the larger.
    assert expected_rates(curves, 50, AlertPolicy("margin", 0.6, margin=0.02)) == (0.05, 0.7, "exact")
    with pytest.raises(ValueError):
        expected_rates({}, 50, AlertPolicy("threshold", 0.6))


def test_below_the_smallest_size_the_margin_rule_fpir_is_the_threshold_rules():
    """Fewer entries put the runner-up further away, so the margin rule may alert on more unlisted faces than at
    the smallest measured size; the threshold rule at the same threshold alerts on a superset and bounds it."""
    curves = {
        "50": {
            "threshold": [{"threshold": 0.6, "margin": 0.0, "tpir": 0.8, "fpir": 0.05}],
            "margin": [
                {"threshold": 0.6, "margin": 0.0, "tpir": 0.8, "fpir": 0.05},
                {"threshold": 0.6, "margin": 0.05, "tpir": 0.7, "fpir": 0.01},
            ],
        }
    }
    assert expected_rates(curves, 10, AlertPolicy("margin", 0.6, margin=0.05)) == (0.05, 0.7, "extrapolated")
    assert expected_rates(curves, 10, AlertPolicy("threshold", 0.6)) == (0.05, 0.8, "extrapolated")
    assert expected_rates(curves, 50, AlertPolicy("margin", 0.6, margin=0.05)) == (0.01, 0.7, "exact")
    assert expected_rates(curves, 10, AlertPolicy("margin", 0.9, margin=0.05))[0] is None  # outside the grid


# --- plots ----------------------------------------------------------------------------------------------------


def test_plot_det_writes_a_png(tmp_path: Path):
    result = identification_simulation(_face_like(), [5, 25])
    target = tmp_path / "det.png"
    plot_det(curves_by_size(result), target, budget_fpir=0.01)
    assert target.read_bytes().startswith(PNG_SIGNATURE)
    buffer = io.BytesIO()
    plot_det({}, buffer)
    assert buffer.getvalue().startswith(PNG_SIGNATURE)


# --- the shared LFW-style folder ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def people() -> tuple[Path, dict[tuple[str, int], np.ndarray | None]]:
    """Every image of the shared people folder encoded once with the engine (None when not exactly one face)."""
    root = faces_dir() / "people"
    config = EngineConfig()
    encodings: dict[tuple[str, int], np.ndarray | None] = {}
    for path in sorted(root.glob("*/*.jpg")):
        name, number = path.stem.rsplit("_", 1)
        image = decode_image(path.read_bytes(), max_pixels=40_000_000)
        boxes = detect_faces(image, config)
        encodings[(name, int(number))] = encode_faces(image, boxes, config)[0] if len(boxes) == 1 else None
    return root, encodings


def test_shared_pairs_are_all_correct_at_the_usual_threshold(people):
    root, encodings = people
    pairs = parse_pairs((root / "pairs.txt").read_text())
    assert len(pairs.pairs) == 8
    assert all(calibration.lfw_image_path(root, name, index).is_file() for name, index in pairs.images())
    report = verification_report(pairs, pair_distances(pairs, encodings), 0.6)
    assert report["failed_pairs"] == 0
    assert (report["accuracy"], report["tar"], report["far"]) == (1.0, 1.0, 0.0)
    assert 0.45 < report["best_threshold"] < 0.75


def test_shared_people_identification(people):
    _, encodings = people
    assert all(encoding is not None for encoding in encodings.values())
    by_identity: dict[str, list[np.ndarray]] = {}
    for (name, _), encoding in sorted(encodings.items()):
        by_identity.setdefault(name, []).append(encoding)
    result = identification_simulation({n: np.stack(v) for n, v in by_identity.items()}, [2, 4, 5])
    assert [e["status"] for e in result["sizes"]] == ["ok", "ok", "refused"]
    assert result["sizes"][1]["non_mated_probes"] == 1  # only Alex Lacamoire is never enrolled
    for entry in result["sizes"][:2]:
        point = _point(entry["curves"]["threshold"], 0.6)
        assert (point["tpir"], point["fpir"]) == (1.0, 0.0)
