"""Section 6, paired: one `bench.micro --serve` process per dlib build, driven sample by sample in alternation.

On a machine shared with other work the load drifts over seconds; running all of build A and then all of build B
lets that drift masquerade as a difference between builds. Here every sample of A sits next to a sample of B
(order flipped each time), and the speed-up is the median of the per-pair ratios.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from typing import Any

from bench.common import REPO_ROOT, Stats

TASK_SECONDS = 40  # per task, all builds together


def _start(python: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [python, "-m", "bench.micro", "--serve"],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        bufsize=1,
    )


def run(builds: dict[str, str], env: dict[str, str], *, samples: int) -> dict[str, Any]:
    """{"builds": {name: {"dlib", "section6"}}, "paired": {task: {"wall": Stats, "cpu": Stats}}} or {"error"}."""
    procs = {name: _start(python, env) for name, python in builds.items()}
    # A watchdog: whatever happens, these processes are gone after 15 minutes.
    deadline = threading.Timer(900, lambda: [p.kill() for p in procs.values()])
    deadline.daemon = True
    deadline.start()
    try:
        hello: dict[str, dict[str, Any]] = {}
        for name, proc in procs.items():
            line = proc.stdout.readline()  # type: ignore[union-attr]
            if not line:
                return {"error": f"{name}: the micro-benchmark server did not start"}
            hello[name] = json.loads(line)
        names = list(procs)
        tasks = [t for t in hello[names[0]]["tasks"] if all(t in hello[n]["tasks"] for n in names)]
        walls: dict[str, dict[str, list[float]]] = {n: {t: [] for t in tasks} for n in names}
        cpus: dict[str, dict[str, list[float]]] = {n: {t: [] for t in tasks} for n in names}
        for task in tasks:
            start = time.perf_counter()
            for i in range(samples):
                for name in names if i % 2 == 0 else reversed(names):
                    proc = procs[name]
                    proc.stdin.write(f"{task}\n")  # type: ignore[union-attr]
                    proc.stdin.flush()  # type: ignore[union-attr]
                    answer = json.loads(proc.stdout.readline())  # type: ignore[union-attr]
                    if "error" in answer:
                        return {"error": f"{name}: {answer['error']}"}
                    walls[name][task].append(answer["wall"] * 1000)
                    cpus[name][task].append(answer["cpu"] * 1000)
                if i >= 3 and time.perf_counter() - start > TASK_SECONDS:
                    break
        result: dict[str, Any] = {"builds": {}, "paired": {}}
        for name in names:
            section6 = {}
            for task in tasks:
                section6[task] = {
                    **hello[name]["facts"].get(task, {}),
                    "ms": {"wall": Stats.of(walls[name][task]).to_dict(), "cpu": Stats.of(cpus[name][task]).to_dict()},
                }
            for task, fact in hello[name]["facts"].items():
                section6.setdefault(task, fact)
            result["builds"][name] = {"dlib": hello[name]["dlib"], "section6": section6}
        if len(names) == 2:
            a, b = names
            for task in tasks:
                result["paired"][task] = {
                    kind: Stats.of([x / y for x, y in zip(series[a][task], series[b][task], strict=True)]).to_dict()
                    for kind, series in (("wall", walls), ("cpu", cpus))
                }
        return result
    finally:
        deadline.cancel()
        for proc in procs.values():
            try:
                if proc.poll() is None:
                    proc.stdin.write("quit\n")  # type: ignore[union-attr]
                    proc.stdin.flush()  # type: ignore[union-attr]
                proc.wait(timeout=20)
            except (OSError, subprocess.TimeoutExpired, ValueError):
                proc.kill()
                proc.wait(timeout=10)
