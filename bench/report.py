"""Turn the sections' JSON into the printed table and docs/benchmarks.md. Never invents a figure: a missing
measurement becomes "not measured: <reason>"."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.common import Stats, build_flags, describe_dlib


def num(x: float | None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    if x == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(x)))
    decimals = max(0, digits - 1 - magnitude)
    return f"{x:,.{decimals}f}"


def num_against(x: float | None, target: float) -> str:
    """`num(x)`, with more digits when three would print a value on the wrong side of `target` as the target
    itself ("1.80×" for 1.799 with a target of 1.8: the verdict would then seem to contradict the figure)."""
    digits = 3
    while x is not None and x != target and digits < 6 and num(x, digits) == num(target, digits):
        digits += 1
    return num(x, digits)


def med(d: dict[str, Any] | None) -> float | None:
    return None if not d else float(d["median"])


def spread(d: dict[str, Any] | None) -> str:
    if not d:
        return ""
    s = Stats.from_dict(d)
    return f"n={s.n}, ±{s.spread * 50:.0f}%"


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


@dataclass
class Row:
    section: str
    measure: str
    ours: str
    raw: str
    ratio: str
    target: str = ""
    verdict: str = ""
    note: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    build_rows: list[list[str]] = field(default_factory=list)
    build_header: list[str] = field(default_factory=list)
    builds: list[str] = field(default_factory=list)
    not_measured: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def missing(self, section: str, measure: str, reason: str) -> None:
        self.rows.append(Row(section, measure, f"not measured: {reason}", "", "", ""))
        self.not_measured.append(f"{section} {measure}: {reason}")


def verdict(value: float | None, target: float, *, higher_is_better: bool = True) -> str:
    if value is None:
        return ""
    ok = value >= target if higher_is_better else value <= target
    return "met" if ok else "NOT met"


def split_verdict(value: float | None, target: float, samples: dict[str, Any] | None, what: str) -> str:
    """The verdict on the median `value`, adding ", <what> on both sides" when some of the paired samples behind it
    fell short of the target and others met it: the next run may well give the other verdict."""
    samples = samples or {}
    split = samples.get("low", target) < target <= samples.get("high", target)
    return verdict(value, target) + (f", {what} on both sides" if split and value is not None else "")


# --- sections ------------------------------------------------------------------------------------------------


def add_pipeline(report: Report, pipe: dict[str, Any] | None, reason: str | None, tag: str = "") -> None:
    """Sections 1–3 from one bench.pipeline run; `tag` names the dlib build it ran with."""
    sfx = f", {tag}" if tag else ""

    def gone(section: str, measure: str) -> None:
        report.missing(section, measure + sfx, reason or (pipe or {}).get("error") or "no result")

    p1 = (pipe or {}).get("pipe_1")
    r1 = (pipe or {}).get("raw_1")
    # Runs from 2026-11-29 07:00 on interleave the trials and pair them by round (bench.pipeline.paired_rounds);
    # older JSON has only the medians of each side.
    paired = (pipe or {}).get("paired") or {}
    if paired.get("error"):
        report.notes.append(f"Sections 1–2{sfx}: {paired['error']}; the figures come from the rounds that finished.")

    def paired_or(key: str, fallback: float | None) -> tuple[float | None, str]:
        """The median of the per-round ratios and how many rounds, else the ratio of the two sides' medians."""
        if key in paired:
            return med(paired[key]), f"paired, {spread(paired[key])}"
        return fallback, ""

    def shown(x: float | None, how: str, target: float | None = None) -> str:
        text = num(x) if target is None else num_against(x, target)
        return f"{text}× ({how})" if how else f"{text}×"

    def judged(key: str, x: float | None, target: float) -> str:
        return split_verdict(x, target, paired.get(key), "rounds")

    if p1 and r1:
        fps1, raw1 = med(p1["fps"]), med(r1["fps"])
        x, how = paired_or("ratio_1", ratio(fps1, raw1))
        report.rows.append(
            Row("1", f"throughput, 1 worker (frames/s, 640×480){sfx}", f"{num(fps1)} ({spread(p1['fps'])})",
                f"{num(raw1)} ({spread(r1['fps'])})", shown(x, how, 0.9), "≥ 0.9×", judged("ratio_1", x, 0.9))
        )  # fmt: skip
    else:
        gone("1", "throughput, 1 worker")
    diag = (pipe or {}).get("in_process")
    if diag:
        ours = diag["submit_service_ms"] + diag["task_body_ms"]
        report.rows.append(
            Row("1", f"diagnostic: frame service + task body in-process, no API/broker (ms/frame){sfx}", num(ours),
                num(diag["raw_ms"]), f"{num(ratio(diag['raw_ms'], ours))}×",
                note=f"submit {num(diag['submit_service_ms'])} ms + task body {num(diag['task_body_ms'])} ms"
                     + outcome_split(diag.get("by_outcome")))
        )  # fmt: skip
    api = (pipe or {}).get("api_post_ms")
    if api and api.get("n"):
        report.rows.append(
            Row("1", f"diagnostic: API POST of one frame, p50 / p95 (ms){sfx}",
                f"{num(api['p50'])} / {num(api['p95'])}", "(no API)", "")
        )  # fmt: skip
    for key, label in (("pipe_1", "1 worker"), ("pipe_2", "2 workers")):
        cpu = ((pipe or {}).get(key) or {}).get("cpu_ms_per_frame")
        if cpu:
            parts = ", ".join(f"{role} {num(ms)}" for role, ms in sorted(cpu.items(), key=lambda kv: -kv[1]))
            report.notes.append(f"CPU per frame during the throughput runs, {label}{sfx} (ms): {parts}.")
    p2 = (pipe or {}).get("pipe_2")
    r2 = (pipe or {}).get("raw_2")
    if p2 and p1 and r2 and r1:
        fps2, raw2 = med(p2["fps"]), med(r2["fps"])
        x2, how2 = paired_or("ratio_2", ratio(fps2, raw2))
        report.rows.append(
            Row("2", f"throughput, 2 workers (frames/s){sfx}", f"{num(fps2)} ({spread(p2['fps'])})",
                f"{num(raw2)} (2 processes, {spread(r2['fps'])})", shown(x2, how2))
        )  # fmt: skip
        scale, how_s = paired_or("scaling", ratio(fps2, med(p1["fps"])))
        raw_scale, how_r = paired_or("raw_scaling", ratio(raw2, med(r1["fps"])))
        judgement = judged("scaling", scale, 1.8)
        if raw_scale is not None and raw_scale < 1.8:
            # The machine's own ceiling: no pipeline scales better than the library alone on the same cores.
            judgement += f"; two raw loops reach only {num_against(raw_scale, 1.8)}× here"
        report.rows.append(
            Row("2", f"scaling 1 → 2 workers{sfx}", shown(scale, how_s, 1.8),
                f"{num(raw_scale)}× (1 → 2 processes{', ' + how_r if how_r else ''})", "", "≥ 1.8×", judgement)
        )  # fmt: skip
    else:
        gone("2", "scaling 1 → 2 workers")
    for key, label in (("latency_1", "1 worker"), ("latency_2", "2 workers")):
        lat = (pipe or {}).get(key)
        if lat and lat["latency_ms"].get("n"):
            ms = lat["latency_ms"]
            raw_ms = (r1 or {}).get("frame_ms") or {}
            raw_text = f"{num(raw_ms.get('p50'))} / {num(raw_ms.get('p95'))} / {num(raw_ms.get('p99'))}"
            report.rows.append(
                Row("3", f"alert latency p50/p95/p99 (ms), {label} at {num(lat['rate_fps'])} frames/s{sfx}",
                    f"{num(ms['p50'])} / {num(ms['p95'])} / {num(ms['p99'])} (n={ms['n']})",
                    f"{raw_text} (per frame)", f"{num(ratio(raw_ms.get('p95'), ms['p95']))}×", "p95 ≤ 1000 ms",
                    verdict(ms["p95"], 1000, higher_is_better=False),
                    note=f"{lat['submitted']} frames submitted, {lat['processed']} processed, {lat['dropped']} dropped")
            )  # fmt: skip
        elif key == "latency_1":
            gone("3", "alert latency")


def add_search(report: Report, search: dict[str, Any] | None, reason: str | None) -> None:
    if not search:
        report.missing("4", "1:N search", reason or "no result")
        return
    for size, r in search.items():
        ours, raw = r["engine_ms"], r["raw_ms"]
        pair = r.get("paired_ratio") or {}
        x_wall = med(pair.get("wall")) if pair else ratio(med(raw["wall"]), med(ours["wall"]))
        x_cpu = med(pair.get("cpu")) if pair else ratio(med(raw["cpu"]), med(ours["cpu"]))
        target = "≥ 20×" if size == "100000" else ""
        report.rows.append(
            Row("4", f"1:N search per probe, {int(size):,} entries (ms, wall / cpu)",
                f"{num(med(ours['wall']))} / {num(med(ours['cpu']))}",
                f"{num(med(raw['wall']))} / {num(med(raw['cpu']))}",
                f"{num(x_wall)}× / {num(x_cpu)}× ({spread(pair.get('wall'))})", target,
                split_verdict(x_wall, 20, pair.get("wall"), "pairs") if target else "",
                note=_search_note(search) if size == "100000" else "")
        )  # fmt: skip


def _search_note(search: dict[str, Any]) -> str:
    if all(r["correct"] for r in search.values()):
        worst = max(r["max_distance_diff"] for r in search.values())
        return f"at every size both return the planted entry; distances agree within {worst:.1e}"
    wrong = [size for size, r in search.items() if not r["correct"]]
    return f"RESULTS DIFFER from face_distance at {', '.join(wrong)} entries"


def add_enrolment(report: Report, micro: dict[str, dict[str, Any]]) -> None:
    """Section 5 in-process, per dlib build."""
    for build, result in micro.items():
        e = (result or {}).get("section5")
        if not e:
            report.missing("5", f"enrolment in-process ({build})", (result or {}).get("error", "no result"))
            continue
        ours, raw = e["engine_ips"], e["raw_ips"]
        x_wall = ratio(med(ours["wall"]), med(raw["wall"]))
        x_cpu = ratio(med(ours["cpu"]), med(raw["cpu"]))
        report.rows.append(
            Row("5", f"enrolment, engine path in-process, {build} (images/s, wall / cpu)",
                f"{num(med(ours['wall']))} / {num(med(ours['cpu']))}",
                f"{num(med(raw['wall']))} / {num(med(raw['cpu']))}",
                f"{num(x_wall)}× / {num(x_cpu)}×",
                note=f"{e['images']} photos; outcomes: " + ", ".join(
                    f"{k}={v}" for k, v in _count(e["engine_outcomes"]).items()))
        )  # fmt: skip


def add_enrolment_workers(report: Report, pipe: dict[str, Any] | None, reason: str | None, tag: str = "") -> None:
    """Section 5 through the enrolment workers, from one bench.pipeline run."""
    sfx = f", {tag}" if tag else ""
    raw = (pipe or {}).get("enrol_raw")
    for workers in (1, 2):
        w = (pipe or {}).get(f"enrol_workers_{workers}")
        if w and raw:
            verdicts = ", ".join(f"{k}={v}" for k, v in w["runs"][-1]["verdicts"].items())
            report.rows.append(
                Row("5", f"enrolment through {workers} enrolment worker(s), upload → verdict (images/s){sfx}",
                    f"{num(med(w['ips']))} ({spread(w['ips'])})", f"{num(med(raw['ips']))} (1 process)",
                    f"{num(ratio(med(w['ips']), med(raw['ips'])))}×",
                    note=f"{workers} batch(es) of {w['images'] // workers} photos; last run: {verdicts}")
            )  # fmt: skip
        else:
            why = reason or (pipe or {}).get("enrol_error") or (pipe or {}).get("error") or "no result"
            report.missing("5", f"enrolment through {workers} worker(s){sfx}", why)


def _count(outcomes: dict[str, str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in outcomes.values():
        counts[value] = counts.get(value, 0) + 1
    return counts


SECTION6 = (
    ("hog_640x480_up0", "HOG detect 640×480, upsample 0 (ms/frame)"),
    ("hog_640x480_up1", "HOG detect 640×480, upsample 1 (ms/frame)"),
    ("hog_1280x720_up0", "HOG detect 1280×720, upsample 0 (ms/frame)"),
    ("hog_1280x720_up1", "HOG detect 1280×720, upsample 1 (ms/frame)"),
    ("encode_640x480", "encode 1 face, 640×480 frame (ms/face)"),
    ("encode_1280x720", "encode 1 face, 1280×720 frame (ms/face)"),
)


def add_builds(
    report: Report, micro: dict[str, dict[str, Any]], fast_reason: str | None, paired: dict[str, Any] | None = None
) -> None:
    names = [b for b, r in micro.items() if r and "section6" in r]
    report.build_header = ["measure (wall / cpu)", *names]
    if len(names) == 2:
        report.build_header.append("speed-up, dlib-bin ÷ fast: median of paired samples (wall / cpu)")
    for key, label in SECTION6:
        row = [label]
        values = []
        for build in names:
            cell = micro[build]["section6"].get(key) or {}
            if "ms" not in cell:
                row.append(f"not measured: {cell.get('error', 'no result')}")
                values.append(None)
                continue
            wall, cpu = med(cell["ms"]["wall"]), med(cell["ms"]["cpu"])
            row.append(f"{num(wall)} / {num(cpu)} ({spread(cell['ms']['wall'])})")
            values.append((wall, cpu))
        if len(names) == 2:
            pair = (paired or {}).get(key)
            if pair:
                row.append(f"{num(med(pair['wall']))}× / {num(med(pair['cpu']))}× ({spread(pair['wall'])})")
            else:
                a, b = values
                row.append(f"{num(ratio(a[0], b[0]))}× / {num(ratio(a[1], b[1]))}×" if a and b else "—")
        report.build_rows.append(row)
    if len(names) == 2:
        encodings = [micro[b]["section6"].get("encode_640x480", {}).get("encoding") for b in names]
        if all(encodings):
            a, b = (np.asarray(e, dtype=np.float64) for e in encodings)
            report.builds.append(
                f"Same face, both builds: encodings {float(np.linalg.norm(a - b)):.1e} apart (Euclidean; the "
                f"match threshold is 0.6), largest component difference {float(np.max(np.abs(a - b))):.1e}."
            )
    for build, result in micro.items():
        if result and "dlib" in result:
            line = f"{build}: {describe_dlib(result['dlib'])}"
            flags = build_flags(result["dlib"])
            if flags:
                line += f"\n    built with: {flags}"
            report.builds.append(line)
        elif result and "error" in result:
            report.builds.append(f"{build}: not measured: {result['error']}")
    if fast_reason:
        report.builds.append(f"fast-dlib: not measured: {fast_reason}")
        report.not_measured.append(f"6 fast-dlib build: {fast_reason}")


# --- rendering -----------------------------------------------------------------------------------------------


def plain_table(header: list[str], rows: list[list[str]], max_width: int = 60) -> str:
    def clip(text: str) -> list[str]:
        words, lines, line = text.split(" "), [], ""
        for word in words:
            if line and len(line) + 1 + len(word) > max_width:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}".strip()
        lines.append(line)
        return lines

    cells = [[clip(c) for c in r] for r in [header, *rows]]
    widths = [max(len(line) for r in cells for line in r[i]) for i in range(len(header))]
    out = []
    for n, r in enumerate(cells):
        height = max(len(c) for c in r)
        for k in range(height):
            out.append("  ".join((c[k] if k < len(c) else "").ljust(w) for c, w in zip(r, widths, strict=True)))
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in out)


def md_table(header: list[str], rows: list[list[str]]) -> str:
    def esc(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(esc(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


MAIN_HEADER = ["#", "measure", "LFR Portal", "raw face_recognition", "ratio", "target", "verdict"]


def main_rows(report: Report) -> list[list[str]]:
    return [[r.section, r.measure, r.ours, r.raw, r.ratio, r.target, r.verdict] for r in report.rows]


def outcome_split(by_outcome: dict[str, Any] | None) -> str:
    """'; by outcome, task body against the raw loop on the same frames: alert (20 frames) 45.1 against 31.5 ms,
    ...', or '' for results from before the split."""
    if not by_outcome:
        return ""
    parts = [
        f"{outcome} ({split['frames']} frames) {num(split['task_body_ms'])} against {num(split['raw_ms'])} ms"
        for outcome, split in by_outcome.items()
    ]
    return "; by outcome, task body against the raw loop on the same frames: " + ", ".join(parts)


def render_text(report: Report, machine: dict[str, Any]) -> str:
    parts = [
        f"LFR Portal bench — {machine['date']} — {machine['cpu']}, {machine['cores']} cores, {machine['ram_gib']} GiB "
        f"— load average at start {machine['load_avg'][0]}",
        "",
        plain_table(MAIN_HEADER, main_rows(report), max_width=48),
        "",
        "Ratios: how many times as fast as the raw library (above 1 = the portal is faster). Values are medians;",
        "±% is half the min–max spread of the runs. wall / cpu: elapsed time / this process's CPU time.",
        "'rounds (pairs) on both sides': the verdict is the median's, and some rounds (pairs) fell short of the",
        "target while others met it.",
        "",
        "6. Encoding speed and the dlib build",
        "",
        plain_table(report.build_header, report.build_rows, max_width=40) if report.build_rows else "not measured",
        "",
        *report.builds,
    ]
    if report.rows:
        notes = [f"  {r.section}. {r.measure}: {r.note}" for r in report.rows if r.note]
        notes += [f"  {note}" for note in report.notes]
        if notes:
            parts += ["", "Notes:", *notes]
    return "\n".join(parts)


def render_markdown(report: Report, machine: dict[str, Any], intro: str, method: str, extra_notes: list[str]) -> str:
    notes = [f"- **{r.section}. {r.measure}**: {r.note}" for r in report.rows if r.note]
    notes += [f"- {note}" for note in report.notes]
    not_measured = [f"- {line}" for line in report.not_measured] or ["- Nothing: every section ran."]
    return "\n".join(
        [
            intro.strip(),
            "",
            "## Latest results",
            "",
            f"- **Date:** {machine['date']}",
            f"- **Machine:** {machine['cpu']}"
            f"{' (' + machine['cpu_model'] + ')' if machine.get('cpu_model') else ''}, {machine['cores']} cores "
            f"({machine['usable_cores']} usable), "
            f"{machine['ram_gib']} GiB RAM, L3 {machine.get('l3') or '?'} (shared with the host), CPU SIMD: "
            f"{', '.join(machine['simd'])}; {'a KVM guest, ' if machine.get('virtualised') else ''}"
            f"Linux {machine['kernel']}, Python {machine['python']}",
            f"- **Load average when the run started:** {', '.join(str(x) for x in machine['load_avg'])} "
            "(other engineers' test suites share these 2 cores: see the notes on noise)",
            f"- **OPENBLAS_NUM_THREADS:** {machine['openblas_threads']}",
            "",
            md_table(MAIN_HEADER, main_rows(report)),
            "",
            "Ratios are *times as fast as the raw library* (above 1 means the portal is faster). Each value is the "
            "median of several runs; ±% is half the min–max spread. *wall / cpu*: elapsed time and the measuring "
            "process's own CPU time (CPU time is what the work cost; wall time also counts waiting for a core). "
            "*rounds (pairs) on both sides*: the verdict is the median's, and some rounds (pairs) fell short of the "
            "target while others met it.",
            "",
            "### 6. Encoding speed and the dlib build",
            "",
            md_table(report.build_header, report.build_rows) if report.build_rows else "Not measured.",
            "",
            *[f"- {line}" for line in report.builds],
            "",
            "### Notes on this run",
            "",
            *(notes or ["- (none)"]),
            *extra_notes,
            "",
            "### Not measured",
            "",
            *not_measured,
            "",
            method.strip(),
            "",
        ]
    )
