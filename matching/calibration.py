"""Calibration maths: LFW pair verification, 1:N identification curves, operating points and DET plots.

Pure numpy (matplotlib only inside plot_det), no Django. Distances come from engine.search so calibration
measures exactly the arithmetic the live matcher uses.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from matching.engine import AlertPolicy, search

DEFAULT_THRESHOLDS: tuple[float, ...] = tuple(round(0.30 + 0.01 * i, 2) for i in range(41))
DEFAULT_MARGINS: tuple[float, ...] = tuple(round(0.01 * i, 2) for i in range(11))
POLICY_KINDS = ("threshold", "margin")
# Grid values come from JSON and decimal literals; this absorbs their float noise when matching a policy to the grid.
_GRID_TOLERANCE = 1e-9


# --- LFW pairs --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    """One line of a pairs file: two images by person name and 1-based image number."""

    name1: str
    index1: int
    name2: str
    index2: int
    same: bool
    fold: int | None = None


@dataclass(frozen=True)
class PairsFile:
    """A parsed pairs file; folds and pairs_per_fold are set only for the 'folds pairs_per_fold' header."""

    pairs: tuple[Pair, ...]
    folds: int | None = None
    pairs_per_fold: int | None = None

    def images(self) -> list[tuple[str, int]]:
        """Every (name, index) the pairs refer to, sorted, each once."""
        return sorted({(p.name1, p.index1) for p in self.pairs} | {(p.name2, p.index2) for p in self.pairs})


def lfw_image_path(root: str | os.PathLike[str], name: str, index: int) -> Path:
    """Where the LFW layout keeps an image: <root>/<Name>/<Name>_<NNNN>.jpg."""
    return Path(root) / name / f"{name}_{index:04d}.jpg"


def _positive_int(token: str, lineno: int, what: str) -> int:
    try:
        value = int(token)
    except ValueError:
        raise ValueError(f"line {lineno}: {what} must be a whole number, got {token!r}") from None
    if value < 1:
        raise ValueError(f"line {lineno}: {what} must be at least 1, got {value}")
    return value


def _parse_pair_line(tokens: list[str], lineno: int, fold: int | None) -> Pair:
    if len(tokens) == 3:
        name, i, j = tokens
        return Pair(
            name,
            _positive_int(i, lineno, "image number"),
            name,
            _positive_int(j, lineno, "image number"),
            same=True,
            fold=fold,
        )
    if len(tokens) == 4:
        name1, i, name2, j = tokens
        if name1 == name2:
            raise ValueError(f"line {lineno}: a different-person line names {name1!r} twice")
        return Pair(
            name1,
            _positive_int(i, lineno, "image number"),
            name2,
            _positive_int(j, lineno, "image number"),
            same=False,
            fold=fold,
        )
    raise ValueError(f"line {lineno}: expected 'Name i j' or 'Name1 i Name2 j', got {' '.join(tokens)!r}")


def parse_pairs(text: str) -> PairsFile:
    """Parse an LFW pairs.txt: header 'N' or 'folds pairs_per_fold', then same- and different-person lines."""
    lines = [(n, line.split()) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise ValueError("the pairs file is empty")
    header_no, header = lines[0]
    body = lines[1:]
    if len(header) == 1:
        count = _positive_int(header[0], header_no, "the pair count")
        pairs = tuple(_parse_pair_line(tokens, n, None) for n, tokens in body)
        # LFW's own dev files give N per kind (2N lines); small hand-made files give the total.
        if len(pairs) not in (count, 2 * count):
            raise ValueError(f"line {header_no}: the header announces {count} pairs but {len(pairs)} pair lines follow")
        return PairsFile(pairs=pairs)
    if len(header) == 2:
        folds = _positive_int(header[0], header_no, "the number of folds")
        per_fold = _positive_int(header[1], header_no, "pairs per fold")
        expected = folds * 2 * per_fold
        if len(body) != expected:
            raise ValueError(
                f"line {header_no}: {folds} folds of {per_fold} same and {per_fold} different pairs need "
                f"{expected} lines, but {len(body)} follow"
            )
        parsed = []
        for position, (n, tokens) in enumerate(body):
            fold, offset = divmod(position, 2 * per_fold)
            pair = _parse_pair_line(tokens, n, fold)
            if pair.same != (offset < per_fold):
                wanted = "same-person 'Name i j'" if offset < per_fold else "different-person 'Name1 i Name2 j'"
                raise ValueError(f"line {n}: expected a {wanted} line in fold {fold + 1}")
            parsed.append(pair)
        return PairsFile(pairs=tuple(parsed), folds=folds, pairs_per_fold=per_fold)
    raise ValueError(f"line {header_no}: the header must be 'N' or 'folds pairs_per_fold', got {' '.join(header)!r}")


def pair_distances(pairs: PairsFile, encodings: Mapping[tuple[str, int], np.ndarray | None]) -> np.ndarray:
    """Distance per pair (engine arithmetic); NaN where an image is missing or had no usable face."""
    out = np.full(len(pairs.pairs), np.nan, dtype=np.float64)
    for k, pair in enumerate(pairs.pairs):
        a, b = encodings.get((pair.name1, pair.index1)), encodings.get((pair.name2, pair.index2))
        if a is not None and b is not None:
            out[k] = float(search(np.asarray(b)[None, :], np.asarray(a)[None, :]).best_distance[0])
    return out


# --- 1:1 verification -------------------------------------------------------------------------------------


def _accuracy_at(distances: np.ndarray, same: np.ndarray, threshold: float) -> float:
    return float(np.mean((distances <= threshold) == same))


def _best_threshold(distances: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """(threshold, accuracy) maximising accuracy; the threshold sits mid-way in the winning gap."""
    order = np.argsort(distances, kind="stable")
    d, s = distances[order], same[order]
    finite = int(np.isfinite(d).sum())
    n_diff = int((~same).sum())
    # Accepting the k nearest pairs (k = 0..finite) covers every distinct decision; only cuts between
    # distinct distance values are realisable with a threshold.
    k = np.arange(finite + 1)
    true_accepts = np.concatenate([[0], np.cumsum(s[:finite])])
    correct = true_accepts + (n_diff - (k - true_accepts))
    cut_ok = np.ones(finite + 1, dtype=bool)
    cut_ok[1:finite] = d[1:finite] > d[: finite - 1]
    correct = np.where(cut_ok, correct, -1)
    best_k = int(np.argmax(correct))
    if finite == 0 or best_k == 0:
        threshold = float(np.nextafter(d[0], -np.inf)) if finite else 0.0
    elif best_k == finite:
        threshold = float(d[finite - 1])
    else:
        threshold = float((d[best_k - 1] + d[best_k]) / 2)
    return threshold, float(correct[best_k] / len(d))


def verification_report(pairs: PairsFile, distances: np.ndarray | Sequence[float], threshold: float) -> dict[str, Any]:
    """Accuracy, TAR and FAR at `threshold`, the best threshold, and k-fold cross-validated accuracy if folded.

    A NaN distance (no usable face) counts as a rejection, so it costs a same pair and spares a different one.
    """
    d = np.asarray(distances, dtype=np.float64)
    if d.shape != (len(pairs.pairs),):
        raise ValueError(f"{len(pairs.pairs)} pairs but {d.size} distances")
    if d.size == 0:
        raise ValueError("no pairs to evaluate")
    failed = np.isnan(d)
    d = np.where(failed, np.inf, d)
    same = np.array([p.same for p in pairs.pairs], dtype=bool)
    accept = d <= threshold
    best_threshold, best_accuracy = _best_threshold(d, same)
    report: dict[str, Any] = {
        "pairs": int(d.size),
        "same_pairs": int(same.sum()),
        "different_pairs": int((~same).sum()),
        "failed_pairs": int(failed.sum()),
        "threshold": float(threshold),
        "accuracy": _accuracy_at(d, same, threshold),
        "tar": float(accept[same].mean()) if same.any() else None,
        "far": float(accept[~same].mean()) if (~same).any() else None,
        "best_threshold": best_threshold,
        "best_accuracy": best_accuracy,
        "cross_validation": None,
    }
    if pairs.folds and pairs.folds >= 2:
        folds = np.array([p.fold for p in pairs.pairs])
        accuracies, thresholds = [], []
        for fold in range(pairs.folds):
            held_out = folds == fold
            chosen, _ = _best_threshold(d[~held_out], same[~held_out])
            thresholds.append(chosen)
            accuracies.append(_accuracy_at(d[held_out], same[held_out], chosen))
        report["cross_validation"] = {
            "folds": pairs.folds,
            "accuracy_mean": float(np.mean(accuracies)),
            "accuracy_std": float(np.std(accuracies)),
            "fold_accuracies": accuracies,
            "fold_thresholds": thresholds,
        }
    return report


# --- 1:N identification -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Outcomes:
    """Search results of one simulated watch-list size; identities are kept to split figures by group."""

    mated_identity: np.ndarray
    mated_correct: np.ndarray
    mated_best: np.ndarray
    mated_gap: np.ndarray
    non_mated_identity: np.ndarray
    non_mated_best: np.ndarray
    non_mated_gap: np.ndarray


class _Plan:
    """The random but seeded choices of a simulation: who is enrolled first and which image is enrolled."""

    def __init__(self, encodings_by_identity: Mapping[str, np.ndarray], seed: int) -> None:
        self.encodings: dict[str, np.ndarray] = {}
        for name in sorted(encodings_by_identity):
            rows = np.asarray(encodings_by_identity[name], dtype=np.float32).reshape(-1, 128)
            if rows.shape[0]:
                self.encodings[name] = rows
        self.eligible = [name for name, rows in self.encodings.items() if rows.shape[0] >= 2]
        rng = np.random.default_rng(seed)
        self.order = [self.eligible[i] for i in rng.permutation(len(self.eligible))]
        counts = np.array([self.encodings[name].shape[0] for name in self.eligible], dtype=np.int64)
        picks = rng.integers(0, counts) if len(counts) else np.empty(0, dtype=np.int64)
        self.enrolled_image = dict(zip(self.eligible, picks.tolist(), strict=True))

    def outcomes(self, size: int) -> _Outcomes:
        chosen = self.order[:size]
        gallery = np.stack([self.encodings[name][self.enrolled_image[name]] for name in chosen])
        mated, mated_label, mated_identity = [], [], []
        for label, name in enumerate(chosen):
            rows = np.delete(self.encodings[name], self.enrolled_image[name], axis=0)
            mated.append(rows)
            mated_label.extend([label] * rows.shape[0])
            mated_identity.extend([name] * rows.shape[0])
        enrolled = set(chosen)
        others = [name for name in self.encodings if name not in enrolled]
        non_mated = [self.encodings[name] for name in others]
        non_mated_identity = [name for name in others for _ in range(self.encodings[name].shape[0])]

        mated_result = search(np.concatenate(mated), gallery)
        non_mated_result = (
            search(np.concatenate(non_mated), gallery) if non_mated else search(np.empty((0, 128)), gallery)
        )

        # float64 like AlertPolicy.alerts, so a grid point here decides exactly as the live policy would.
        def best_and_gap(result: Any) -> tuple[np.ndarray, np.ndarray]:
            best = result.best_distance.astype(np.float64)
            with np.errstate(invalid="ignore"):
                return best, result.runner_up_distance.astype(np.float64) - best

        mated_best, mated_gap = best_and_gap(mated_result)
        non_mated_best, non_mated_gap = best_and_gap(non_mated_result)
        return _Outcomes(
            mated_identity=np.array(mated_identity, dtype=object),
            mated_correct=mated_result.best_index == np.array(mated_label, dtype=np.int64),
            mated_best=mated_best,
            mated_gap=mated_gap,
            non_mated_identity=np.array(non_mated_identity, dtype=object),
            non_mated_best=non_mated_best,
            non_mated_gap=non_mated_gap,
        )


def _alert_counts(best: np.ndarray, gap: np.ndarray, thresholds: np.ndarray, margin: float | None) -> np.ndarray:
    """How many faces alert at each threshold (and margin); one sort, then a binary search per threshold."""
    eligible = best if margin is None else best[gap >= margin]
    return np.searchsorted(np.sort(eligible), thresholds, side="right")


def _rate(count: np.ndarray, total: int) -> list[float | None]:
    return [float(c) / total if total else None for c in count]


def _curves(
    outcomes: _Outcomes, mated_mask: np.ndarray, non_mated_mask: np.ndarray, thresholds: np.ndarray, margins: np.ndarray
) -> dict[str, list[dict[str, float | None]]]:
    correct = outcomes.mated_correct & mated_mask
    hit_best, hit_gap = outcomes.mated_best[correct], outcomes.mated_gap[correct]
    fp_best, fp_gap = outcomes.non_mated_best[non_mated_mask], outcomes.non_mated_gap[non_mated_mask]
    n_mated, n_non_mated = int(mated_mask.sum()), int(non_mated_mask.sum())

    def points(margin: float | None) -> list[dict[str, float | None]]:
        tpir = _rate(_alert_counts(hit_best, hit_gap, thresholds, margin), n_mated)
        fpir = _rate(_alert_counts(fp_best, fp_gap, thresholds, margin), n_non_mated)
        return [
            {"threshold": float(t), "margin": float(margin or 0.0), "tpir": tp, "fpir": fp}
            for t, tp, fp in zip(thresholds, tpir, fpir, strict=True)
        ]

    return {"threshold": points(None), "margin": [p for m in margins for p in points(float(m))]}


def _grid(values: Sequence[float], name: str) -> np.ndarray:
    grid = np.unique(np.asarray(values, dtype=np.float64))
    if grid.size == 0 or not np.isfinite(grid).all() or (grid < 0).any():
        raise ValueError(f"{name} must be a non-empty list of non-negative numbers")
    return grid


def _check_sizes(sizes: Sequence[int]) -> list[int]:
    checked = [int(s) for s in sizes]
    if not checked or any(s < 1 for s in checked):
        raise ValueError("sizes must be a non-empty list of positive watch-list sizes")
    return checked


def _refusal(size: int, available: int) -> dict[str, Any]:
    return {
        "size": size,
        "status": "refused",
        "available": available,
        "reason": (
            f"a watch-list of {size} needs {size} identities with two or more images; the dataset has {available}"
        ),
    }


def identification_simulation(
    encodings_by_identity: Mapping[str, np.ndarray],
    sizes: Sequence[int],
    *,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    margins: Sequence[float] = DEFAULT_MARGINS,
    seed: int = 0,
) -> dict[str, Any]:
    """TPIR and FPIR curves per watch-list size and alert policy, from a seeded open-set 1:N simulation.

    One image of each of N identities with ≥ 2 images is enrolled; their other images are mated probes and
    every image of anyone not enrolled is a non-mated probe. A size the dataset cannot fill is refused.
    """
    checked_sizes = _check_sizes(sizes)
    t_grid, m_grid = _grid(thresholds, "thresholds"), _grid(margins, "margins")
    plan = _Plan(encodings_by_identity, seed)
    results: list[dict[str, Any]] = []
    for size in checked_sizes:
        if size > len(plan.eligible):
            results.append(_refusal(size, len(plan.eligible)))
            continue
        outcomes = plan.outcomes(size)
        every_mated = np.ones(outcomes.mated_best.shape[0], dtype=bool)
        every_non_mated = np.ones(outcomes.non_mated_best.shape[0], dtype=bool)
        results.append(
            {
                "size": size,
                "status": "ok",
                "mated_probes": int(every_mated.size),
                "non_mated_probes": int(every_non_mated.size),
                "curves": _curves(outcomes, every_mated, every_non_mated, t_grid, m_grid),
            }
        )
    return {
        "seed": seed,
        "identities": len(plan.encodings),
        "identities_with_two_or_more_images": len(plan.eligible),
        "images": int(sum(rows.shape[0] for rows in plan.encodings.values())),
        "thresholds": t_grid.tolist(),
        "margins": m_grid.tolist(),
        "sizes": results,
    }


def group_report(
    encodings_by_identity: Mapping[str, np.ndarray],
    attributes: Mapping[str, str],
    sizes: Sequence[int],
    *,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    margins: Sequence[float] = DEFAULT_MARGINS,
    seed: int = 0,
) -> dict[str, Any]:
    """The identification curves split by the probe's demographic group, over the same mixed watch-lists.

    Uses the same seeded enrolment as identification_simulation; identities without a group still take part
    in the watch-list and as probes of no group.
    """
    checked_sizes = _check_sizes(sizes)
    t_grid, m_grid = _grid(thresholds, "thresholds"), _grid(margins, "margins")
    plan = _Plan(encodings_by_identity, seed)
    groups = sorted({attributes[name] for name in plan.encodings if name in attributes})
    report: dict[str, Any] = {
        "seed": seed,
        "thresholds": t_grid.tolist(),
        "margins": m_grid.tolist(),
        "unlabelled_identities": sum(1 for name in plan.encodings if name not in attributes),
        "groups": {
            group: {"identities": sum(1 for n in plan.encodings if attributes.get(n) == group), "sizes": []}
            for group in groups
        },
    }
    for size in checked_sizes:
        if size > len(plan.eligible):
            for group in groups:
                report["groups"][group]["sizes"].append(_refusal(size, len(plan.eligible)))
            continue
        outcomes = plan.outcomes(size)
        mated_groups = np.array([attributes.get(n) for n in outcomes.mated_identity], dtype=object)
        non_mated_groups = np.array([attributes.get(n) for n in outcomes.non_mated_identity], dtype=object)
        for group in groups:
            mated_mask, non_mated_mask = mated_groups == group, non_mated_groups == group
            report["groups"][group]["sizes"].append(
                {
                    "size": size,
                    "status": "ok",
                    "mated_probes": int(mated_mask.sum()),
                    "non_mated_probes": int(non_mated_mask.sum()),
                    "curves": _curves(outcomes, mated_mask, non_mated_mask, t_grid, m_grid),
                }
            )
    return report


def curves_by_size(simulation: Mapping[str, Any]) -> dict[int, dict[str, list[dict[str, Any]]]]:
    """The curves of the sizes a simulation could measure, keyed by watch-list size."""
    return {int(entry["size"]): entry["curves"] for entry in simulation["sizes"] if entry["status"] == "ok"}


# --- operating points and expected rates ------------------------------------------------------------------


def operating_point(curve: Sequence[Mapping[str, Any]], budget_fpir: float) -> dict[str, Any] | None:
    """The point with the highest TPIR among those with FPIR ≤ budget (ties: stricter); None if none qualifies."""
    candidates = [
        p for p in curve if p.get("fpir") is not None and p.get("tpir") is not None and p["fpir"] <= budget_fpir
    ]
    if not candidates:
        return None
    best = max(candidates, key=lambda p: (p["tpir"], -p["threshold"], p.get("margin", 0.0)))
    return dict(best)


def _bounds_at_size(points: Sequence[Mapping[str, Any]], policy: AlertPolicy) -> tuple[float | None, float | None]:
    """(upper bound on FPIR, lower bound on TPIR) from the nearest grid points on the safe side of the policy."""
    t, m = policy.threshold, policy.margin if policy.kind == "margin" else 0.0
    # A looser-or-equal grid point alerts on a superset of faces, so its FPIR cannot understate the policy's;
    # a stricter-or-equal one alerts on a subset, so its TPIR cannot overstate it.
    looser = [
        p["fpir"]
        for p in points
        if p["threshold"] >= t - _GRID_TOLERANCE and p["margin"] <= m + _GRID_TOLERANCE and p["fpir"] is not None
    ]
    stricter = [
        p["tpir"]
        for p in points
        if p["threshold"] <= t + _GRID_TOLERANCE and p["margin"] >= m - _GRID_TOLERANCE and p["tpir"] is not None
    ]
    return (min(looser) if looser else None), (max(stricter) if stricter else None)


def _interpolate(low: float | None, high: float | None, weight: float) -> float | None:
    if low is None or high is None:
        return None
    return low + weight * (high - low)


def expected_rates(
    curves: Mapping[int | str, Mapping[str, Sequence[Mapping[str, Any]]]], size: int, policy: AlertPolicy
) -> tuple[float | None, float | None, str]:
    """(FPIR, TPIR, how) for a watch-list size and policy from calibrated sizes; how is exact|interpolated|extrapolated.

    Rates come from the nearest grid points that do not flatter the policy; None means the calibration cannot
    bound that rate (the policy lies outside the grid or there were no probes of that kind). Below the smallest
    calibrated size, the margin rule's FPIR is bounded by the threshold rule's at that size.
    """
    if size < 1:
        raise ValueError("size must be positive")
    by_size = {int(k): v[policy.kind] for k, v in curves.items()}
    if not by_size:
        raise ValueError("the calibration has no measured watch-list sizes")
    calibrated = sorted(by_size)
    if size in by_size:
        return (*_bounds_at_size(by_size[size], policy), "exact")
    if size < calibrated[0]:
        # A shorter list gives each face fewer chances of a false match, so the smallest size bounds the threshold
        # rule's FPIR (and both rules' TPIR). Not the margin rule's: with fewer entries the runner-up is further
        # away, so more unlisted faces clear the margin. It alerts on no more faces than the threshold rule at the
        # same threshold, though, so that rule's rate at the smallest size bounds it.
        smallest = calibrated[0]
        fpir, tpir = _bounds_at_size(by_size[smallest], policy)
        if policy.kind == "margin":
            plain = next(v for k, v in curves.items() if int(k) == smallest).get("threshold", ())
            fpir, _tpir = _bounds_at_size(plain, AlertPolicy("threshold", policy.threshold))
        return fpir, tpir, "extrapolated"
    if size > calibrated[-1]:
        largest = calibrated[-1]
        fpir, tpir = _bounds_at_size(by_size[largest], policy)
        if fpir is not None:
            # Each extra entry is another chance of a false match: treat comparisons as independent.
            fpir = 1.0 - (1.0 - fpir) ** (size / largest)
        return fpir, tpir, "extrapolated"
    upper = next(s for s in calibrated if s > size)
    lower = max(s for s in calibrated if s < size)
    weight = (math.log(size) - math.log(lower)) / (math.log(upper) - math.log(lower))
    fpir_low, tpir_low = _bounds_at_size(by_size[lower], policy)
    fpir_high, tpir_high = _bounds_at_size(by_size[upper], policy)
    return _interpolate(fpir_low, fpir_high, weight), _interpolate(tpir_low, tpir_high, weight), "interpolated"


# --- plots ------------------------------------------------------------------------------------------------


def _envelope(points: Sequence[Mapping[str, Any]]) -> tuple[list[float], list[float]]:
    """(FPIR, FNIR) of the points no other point beats on both rates, FPIR ascending; zero FPIR is off a log axis."""
    usable = sorted(
        ((p["fpir"], 1.0 - p["tpir"]) for p in points if p["fpir"] and p["tpir"] is not None),
        key=lambda xy: (xy[0], xy[1]),
    )
    xs: list[float] = []
    ys: list[float] = []
    for x, y in usable:
        if not ys or y < ys[-1]:
            xs.append(x)
            ys.append(y)
    return xs, ys


def plot_det(
    curves: Mapping[int | str, Mapping[str, Sequence[Mapping[str, Any]]]],
    path: str | os.PathLike[str] | BinaryIO,
    *,
    budget_fpir: float | None = None,
    title: str = "Identification error trade-off",
) -> None:
    """Write a PNG DET plot: FNIR against FPIR (log scale), one line per watch-list size and alert policy."""
    # The object API with an Agg canvas touches no pyplot global state, so it is safe in workers and threads.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    styles = {"threshold": "-", "margin": "--"}
    plotted = 0
    for size in sorted(curves, key=int):
        for kind in POLICY_KINDS:
            xs, ys = _envelope(curves[size].get(kind, ()))
            if xs:
                axes.plot(xs, ys, styles[kind], marker=".", label=f"{int(size):,} on list, {kind}")
                plotted += 1
    if budget_fpir is not None:
        axes.axvline(budget_fpir, color="grey", linestyle=":", label=f"budget FPIR {budget_fpir:g}")
    axes.set_xscale("log")
    axes.set_ylim(0.0, 1.0)
    axes.set_xlabel("FPIR: share of faces not on the list that raise an alert")
    axes.set_ylabel("FNIR: share of listed faces missed (1 − TPIR)")
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    if plotted or budget_fpir is not None:
        axes.legend(fontsize="small")
    else:
        axes.text(0.5, 0.5, "no point with a measurable non-zero FPIR", ha="center", transform=axes.transAxes)
    figure.tight_layout()
    figure.savefig(path, format="png")


# --- statistical confidence -------------------------------------------------------------------------------------


def _binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X ≤ k) for X ~ Binomial(n, p), summed in log space so large n does not overflow."""
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 1.0 if k >= n else 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    total = 0.0
    for i in range(k + 1):
        log_term = math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q
        total += math.exp(log_term)
    return min(total, 1.0)


def rate_upper_bound(events: int, trials: int, confidence: float = 0.95) -> float:
    """One-sided Clopper–Pearson upper bound on a rate after `events` in `trials` (1.0 with no trials).

    Zero false alerts among 5 faces does not show a rate of 1 in 10,000: the bound says how high the true rate
    could still plausibly be (for zero events it is about 3/trials at 95 %, the "rule of three").
    """
    if trials <= 0:
        return 1.0
    if events >= trials:
        return 1.0
    alpha = 1.0 - confidence
    low, high = events / trials, 1.0
    for _ in range(100):
        mid = (low + high) / 2
        if _binomial_cdf(events, trials, mid) > alpha:
            low = mid
        else:
            high = mid
    return high


def non_mated_probe_counts(simulation: Mapping[str, Any]) -> dict[int, int]:
    """How many faces not on the list each measured watch-list size was tested with."""
    return {
        int(entry["size"]): int(entry.get("non_mated_probes", 0))
        for entry in simulation.get("sizes", [])
        if entry.get("status") == "ok"
    }
