"""`python -m bench` (`make bench`): every section against the raw face_recognition library, in one run.

    make bench                          # everything; about 10–25 minutes on 2 cores
    make bench BENCH_ARGS=--quick       # fewer repeats
    make bench BENCH_ARGS="--sections 1,2 --rounds 20"   # sections 1–2 alone, with more paired rounds
    make bench BENCH_ARGS="--sections 4,6 --no-docs"

Sections 5 (in-process) and 6 run in a subprocess per dlib build: the main .venv (dlib-bin) and, when
`make fast-dlib` has built it, .venv-fastdlib. Section 4 runs in this process. Sections 1–3 and the worker half
of 5 run in a subprocess (bench.pipeline) with their own database, broker DB and workers. The table is printed
and written to docs/benchmarks.md.
"""

from __future__ import annotations

import os

# One BLAS thread per process before numpy loads (the Makefile exports it too): the bench measures the shape the
# workers run in, one process per core.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from bench.common import CACHE_DIR, REPO_ROOT, machine_info  # noqa: E402
from bench.report import (  # noqa: E402
    Report,
    add_builds,
    add_enrolment,
    add_enrolment_workers,
    add_pipeline,
    add_search,
    render_markdown,
    render_text,
)

FAST_VENV = REPO_ROOT / ".venv-fastdlib"
DOCS = REPO_ROOT / "docs" / "benchmarks.md"
# The raw results of the run that last wrote docs/benchmarks.md, so the docs can be re-rendered without a rerun;
# a run that leaves the docs alone (--no-docs) writes its own file instead.
LAST_RUN = CACHE_DIR / "last-run.json"
LAST_PARTIAL_RUN = CACHE_DIR / "last-run-no-docs.json"


def log(message: str) -> None:
    sys.stderr.write(f"[bench] {message}\n")
    sys.stderr.flush()


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)})
    env.setdefault("PYTHONWARNINGS", "ignore")
    return env


def run_json(argv: list[str], timeout: float) -> dict[str, Any]:
    """Run a bench module in a subprocess and read its JSON; errors become {"error": ...}."""
    with tempfile.TemporaryDirectory(prefix="lfr-bench-") as tmp:
        out = Path(tmp) / "result.json"
        try:
            proc = subprocess.run(
                [*argv, "--json", str(out)],
                cwd=REPO_ROOT,
                env=subprocess_env(),
                timeout=timeout,
                stdout=subprocess.PIPE,
                stderr=None,  # progress lines go straight to the terminal
                text=True,
            )
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f} s"}
        if proc.returncode != 0 or not out.exists():
            tail = (proc.stdout or "").strip().splitlines()[-3:]
            return {"error": f"exit code {proc.returncode} {' '.join(tail)}".strip()}
        return json.loads(out.read_text())


def fast_python() -> tuple[Path | None, str | None]:
    python = FAST_VENV / "bin" / "python"
    if not python.exists():
        return None, "no .venv-fastdlib (run `make fast-dlib` to build dlib for this CPU)"
    check = subprocess.run(
        [str(python), "-c", "import dlib, face_recognition_models; print(dlib.__version__)"],
        capture_output=True,
        text=True,
        timeout=120,
        env=subprocess_env(),
    )
    if check.returncode != 0:
        return None, f".venv-fastdlib cannot import dlib: {check.stderr.strip().splitlines()[-1:]}"
    if not list(FAST_VENV.glob(f".fastdlib-*-{requirements_key()}")):
        return None, ".venv-fastdlib was made for other requirements (run `make fast-dlib` again to update it)"
    return python, None


def requirements_key() -> str:
    """The requirements' key in .venv-fastdlib's stamp (scripts/build_fast_dlib.sh computes the same)."""
    data = b"".join((REPO_ROOT / name).read_bytes() for name in ("requirements.txt", "requirements-nodeps.txt"))
    return hashlib.sha256(data).hexdigest()[:12]


def merge_rounds(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Several micro runs of one build: per figure, the median of the runs' medians, the overall min and max."""
    good = [r for r in rounds if "error" not in r]
    if not good:
        return rounds[-1] if rounds else {"error": "no result"}
    if len(good) == 1:
        return good[0]
    import statistics

    def merge(values: list[Any]) -> Any:
        first = values[0]
        if isinstance(first, dict) and {"median", "low", "high", "n"} <= set(first):
            return {
                "median": statistics.median(v["median"] for v in values),
                "low": min(v["low"] for v in values),
                "high": max(v["high"] for v in values),
                "n": sum(v["n"] for v in values),
            }
        if isinstance(first, dict):
            return {k: merge([v[k] for v in values if k in v]) for k in first}
        return first

    merged = dict(good[0])
    for key in ("section5", "section6"):
        if all(key in r for r in good):
            merged[key] = merge([r[key] for r in good])
    merged["rounds"] = len(good)
    return merged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="fewer repeats (noisier)")
    parser.add_argument("--rounds", type=int, default=0,
                        help="rounds of sections 1–2, each pairing the pipeline with the raw loop (default 10, 2 with "
                             "--quick); more rounds give a steadier median on a noisy host")  # fmt: skip
    parser.add_argument("--sections", default="1,2,3,4,5,6", help="comma-separated, e.g. 4,6")
    parser.add_argument("--no-fast", action="store_true", help="ignore .venv-fastdlib even if it exists")
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    parser.add_argument("--keep-db", action="store_true", help="keep the lfr_bench database after the run")
    parser.add_argument("--pipeline-main-only", action="store_true", help="run sections 1–3 with dlib-bin only")
    parser.add_argument("--json", type=Path,
                        help=f"write every raw result here (default {LAST_RUN.relative_to(REPO_ROOT)}, or "
                             f"{LAST_PARTIAL_RUN.name} with --no-docs; re-render it with --from-json)")  # fmt: skip
    parser.add_argument("--from-json", type=Path, help="re-render the table and docs from a --json file; no run")
    args = parser.parse_args(argv)
    if args.from_json:
        publish(json.loads(args.from_json.read_text()), write_docs=not args.no_docs)
        return 0
    sections = set(args.sections.split(","))
    machine = machine_info()
    started = time.perf_counter()
    log(f"{machine['cpu']}, {machine['cores']} cores, load average {machine['load_avg']}")

    builds: dict[str, str] = {"dlib-bin (.venv)": sys.executable}
    fast_reason: str | None = None
    if args.no_fast:
        fast_reason = "--no-fast given"
    else:
        python, fast_reason = fast_python()
        if python is not None:
            builds["fast-dlib (.venv-fastdlib)"] = str(python)

    # Sections 5 (in-process) and 6, per dlib build, alternating builds so drifting load hits both alike.
    micro: dict[str, dict[str, Any]] = {}
    if "5" in sections:
        rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in builds}
        for round_no in range(1 if args.quick else 2):
            for name, python in builds.items():
                log(f"section 5 in-process with {name}, round {round_no + 1}")
                argv_micro = [python, "-m", "bench.micro", "--sections", "5", *(["--quick"] if args.quick else [])]
                rounds[name].append(run_json(argv_micro, timeout=900))
        micro = {name: merge_rounds(r) for name, r in rounds.items()}
    paired_ratios: dict[str, Any] = {}
    if "6" in sections:
        from bench import paired

        log(f"section 6: {' and '.join(builds)}, sample by sample in alternation")
        six = paired.run(builds, subprocess_env(), samples=6 if args.quick else 16)
        if "error" in six:
            for name in builds:
                micro.setdefault(name, {})["error"] = six["error"]
        else:
            for name, data in six["builds"].items():
                micro.setdefault(name, {}).update(data)
            paired_ratios = six["paired"]

    search: dict[str, Any] | None = None
    search_reason: str | None = None
    if "4" in sections:
        log("section 4: 1:N search")
        try:
            import warnings

            # face_recognition_models imports pkg_resources (pinned setuptools<81 keeps it working): not news here.
            warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
            from bench import search as search_bench

            search = search_bench.run(quick=args.quick)
        except Exception as exc:  # noqa: BLE001
            search_reason = f"{exc.__class__.__name__}: {exc}"

    # Sections 1–3 and the worker half of 5: the whole pipeline run (API server, workers, raw loops) under each
    # build's interpreter, so the workers and the raw loop use the same dlib.
    pipes: dict[str, dict[str, Any]] = {}
    if sections & {"1", "2", "3", "5"}:
        pipeline_builds = builds if not args.pipeline_main_only else {"dlib-bin (.venv)": sys.executable}
        for name, python in pipeline_builds.items():
            log(f"sections 1–3 and the enrolment workers with {name}: API → Redis → Celery → PostgreSQL")
            argv_pipe = [python, "-m", "bench.pipeline", *(["--quick"] if args.quick else [])]
            argv_pipe += ["--keep-db"] if args.keep_db else []
            argv_pipe += [f"--rounds={args.rounds}"] if args.rounds > 0 else []
            pipes[name] = run_json(argv_pipe, timeout=2400)

    data = {
        "machine": machine,
        "sections": sorted(sections),
        "fast_reason": fast_reason,
        "search_reason": search_reason,
        "micro": micro,
        "paired": paired_ratios,
        "search": search,
        "pipeline": pipes,
        "elapsed_min": round((time.perf_counter() - started) / 60, 1),
        "load_end": [round(x, 2) for x in os.getloadavg()],
    }
    out = args.json or (LAST_PARTIAL_RUN if args.no_docs else LAST_RUN)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=1, default=str))
    log(f"raw results in {out.relative_to(REPO_ROOT) if out.is_relative_to(REPO_ROOT) else out}")
    publish(data, write_docs=not args.no_docs)
    return 0


def build_report(data: dict[str, Any]) -> Report:
    sections = set(data.get("sections") or ["1", "2", "3", "4", "5", "6"])
    micro, pipes = data.get("micro") or {}, data.get("pipeline") or {}
    report = Report()
    if "4" in sections:
        add_search(report, data.get("search"), data.get("search_reason"))
    if "5" in sections:
        add_enrolment(report, micro)
    tagged = len(pipes) > 1
    for name, pipe in pipes.items():
        reason = None
        if "error" in pipe and not any(k in pipe for k in ("pipe_1", "enrol_workers_1", "raw_1")):
            reason = pipe["error"]
        elif pipe.get("error"):
            report.not_measured.append(f"pipeline with {name} stopped part-way: {pipe['error']}")
        if sections & {"1", "2", "3"}:
            add_pipeline(report, pipe, reason, tag=name if tagged else "")
        if "5" in sections:
            add_enrolment_workers(report, pipe, reason, tag=name if tagged else "")
    if "6" in sections:
        add_builds(report, micro, data.get("fast_reason"), data.get("paired"))
    report.rows.sort(key=lambda row: row.section)  # stable: builds keep their order within a section
    return report


def publish(data: dict[str, Any], *, write_docs: bool) -> None:
    """Print the table and (unless told not to) rewrite docs/benchmarks.md from one run's results."""
    report = build_report(data)
    machine = data["machine"]
    extra = []
    if data.get("elapsed_min") is not None:
        end = f"; load average at the end {', '.join(str(x) for x in data['load_end'])}" if data.get("load_end") else ""
        extra.append(f"- The whole run took {data['elapsed_min']} minutes{end}.")
    sys.stdout.write(render_text(report, machine) + "\n")
    if write_docs:
        from bench.docs import FINDINGS, INTRO, METHOD

        DOCS.write_text(render_markdown(report, machine, INTRO, FINDINGS + METHOD, extra))
        log(f"wrote {DOCS.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    raise SystemExit(main())
