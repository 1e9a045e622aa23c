"""The bench's verdicts for sections 1 and 2 (pure logic: no run, no timing)."""

from __future__ import annotations

from bench.common import Stats
from bench.report import Report, add_pipeline, add_search


def stats(*samples: float) -> dict:
    return Stats.of(list(samples)).to_dict()


def pipeline_result(**paired: dict) -> dict:
    # The medians of each side, taken alone, say 0.80× for one worker and 1.60× for scaling.
    result = {
        "raw_1": {"fps": stats(10.0, 10.0), "frame_ms": {"n": 0}},
        "pipe_1": {"fps": stats(8.0, 8.0)},
        "raw_2": {"fps": stats(20.0, 20.0)},
        "pipe_2": {"fps": stats(12.8, 12.8)},
    }
    if paired:
        result["paired"] = {"rounds": 2, **paired}
    return result


def rows(result: dict) -> dict[str, object]:
    report = Report()
    add_pipeline(report, result, None)
    return {row.measure.split(" (")[0]: row for row in report.rows}


def test_verdicts_come_from_the_per_round_ratios_when_the_run_paired_its_trials():
    found = rows(
        pipeline_result(
            ratio_1=stats(0.93, 0.95),
            ratio_2=stats(0.90, 0.92),
            scaling=stats(1.82, 1.86),
            raw_scaling=stats(1.95, 1.99),
        )
    )
    one, scaling = found["throughput, 1 worker"], found["scaling 1 → 2 workers"]
    assert one.ratio.startswith("0.940× (paired, n=2")
    assert one.verdict == "met"
    assert scaling.ours.startswith("1.84× (paired, n=2")
    assert scaling.raw.startswith("1.97× (1 → 2 processes, paired, n=2")
    assert scaling.verdict == "met"
    assert found["throughput, 2 workers"].ratio.startswith("0.910× (paired")


def test_a_paired_ratio_below_target_is_not_met_whatever_the_medians_say():
    result = pipeline_result(
        ratio_1=stats(0.85, 0.87), ratio_2=stats(0.9, 0.9), scaling=stats(1.7, 1.75), raw_scaling=stats(2.0, 2.0)
    )
    result["pipe_1"]["fps"] = stats(9.5, 9.5)  # medians alone would say 0.95× ...
    result["pipe_2"]["fps"] = stats(19.0, 19.0)  # ... and 2.0× for scaling
    found = rows(result)
    assert found["throughput, 1 worker"].verdict == "NOT met"
    assert found["scaling 1 → 2 workers"].verdict == "NOT met"


def test_older_results_without_pairs_fall_back_to_the_ratio_of_the_medians():
    found = rows(pipeline_result())
    one, scaling = found["throughput, 1 worker"], found["scaling 1 → 2 workers"]
    assert one.ratio == "0.800×" and one.verdict == "NOT met"
    assert scaling.ours == "1.60×" and scaling.verdict == "NOT met"
    assert scaling.raw == "2.00× (1 → 2 processes)"


def test_a_verdict_says_when_the_rounds_fell_on_both_sides_of_the_target():
    found = rows(
        pipeline_result(
            ratio_1=stats(0.85, 0.97), ratio_2=stats(0.9, 0.9), scaling=stats(1.7, 1.86), raw_scaling=stats(2.0, 2.0)
        )
    )
    assert found["throughput, 1 worker"].verdict == "met, rounds on both sides"  # median 0.91×
    assert found["scaling 1 → 2 workers"].verdict == "NOT met, rounds on both sides"  # median 1.78×
    steady = rows(
        pipeline_result(
            ratio_1=stats(0.90, 0.97), ratio_2=stats(0.9, 0.9), scaling=stats(1.6, 1.79), raw_scaling=stats(2.0, 2.0)
        )
    )
    assert steady["throughput, 1 worker"].verdict == "met"  # a round exactly at the target meets it
    assert steady["scaling 1 → 2 workers"].verdict == "NOT met"


def test_a_scaling_verdict_names_the_machines_own_ceiling_when_two_raw_loops_fall_short():
    # Two raw loops reached only 1.59–1.61× on a shared Zen 3 of 2026-11-29: no pipeline can reach 1.8× there.
    capped = rows(pipeline_result(ratio_1=stats(0.8, 0.8), scaling=stats(1.76, 1.8), raw_scaling=stats(1.59, 1.63)))
    assert capped["scaling 1 → 2 workers"].verdict == (
        "NOT met, rounds on both sides; two raw loops reach only 1.61× here"
    )
    roomy = rows(pipeline_result(ratio_1=stats(0.8, 0.8), scaling=stats(1.7, 1.74), raw_scaling=stats(1.8, 1.9)))
    assert roomy["scaling 1 → 2 workers"].verdict == "NOT met"


def test_the_search_verdict_says_when_its_pairs_fell_on_both_sides_of_the_target():
    def verdict_at_100k(low: float, high: float) -> str:
        sample = {"wall": stats(0.1, 0.1), "cpu": stats(0.1, 0.1)}
        result = {"engine_ms": sample, "raw_ms": sample, "correct": True, "max_distance_diff": 0.0}
        report = Report()
        add_search(
            report, {"100000": {**result, "paired_ratio": {"wall": stats(low, high), "cpu": stats(low, high)}}}, None
        )
        return report.rows[0].verdict

    assert verdict_at_100k(19.3, 29.9) == "met, pairs on both sides"  # median 24.6×
    assert verdict_at_100k(20.0, 29.9) == "met"


def test_the_in_process_diagnostic_shows_what_frames_with_alerts_cost_next_to_the_rest():
    result = pipeline_result()
    result["in_process"] = {
        "submit_service_ms": 2.0,
        "task_body_ms": 36.0,
        "raw_ms": 31.0,
        "frames": 110,
        "by_outcome": {
            "alert": {"frames": 40, "task_body_ms": 44.0, "raw_ms": 34.0},
            "matched": {"frames": 70, "task_body_ms": 31.5, "raw_ms": 29.3},
        },
    }
    note = rows(result)["diagnostic: frame service + task body in-process, no API/broker"].note
    assert note.startswith("submit 2.00 ms + task body 36.0 ms; by outcome")
    assert "alert (40 frames) 44.0 against 34.0 ms, matched (70 frames) 31.5 against 29.3 ms" in note
    del result["in_process"]["by_outcome"]  # results from before the split still render
    assert rows(result)["diagnostic: frame service + task body in-process, no API/broker"].note.endswith("36.0 ms")


def test_a_figure_just_below_its_target_is_never_printed_as_the_target():
    found = rows(
        pipeline_result(
            ratio_1=stats(0.8996, 0.8996),
            ratio_2=stats(0.80, 0.80),
            scaling=stats(1.799, 1.799),
            raw_scaling=stats(1.95, 1.95),
        )
    )
    one, scaling = found["throughput, 1 worker"], found["scaling 1 → 2 workers"]
    assert one.ratio.startswith("0.8996× (paired") and one.verdict.startswith("NOT met")
    assert scaling.ours.startswith("1.799× (paired") and scaling.verdict.startswith("NOT met")
    clear = rows(pipeline_result(ratio_1=stats(0.94, 0.94), scaling=stats(1.83, 1.83)))
    assert clear["throughput, 1 worker"].ratio.startswith("0.940×")
    assert clear["scaling 1 → 2 workers"].ours.startswith("1.83×")
