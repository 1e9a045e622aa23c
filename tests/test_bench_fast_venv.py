"""The fast-build venv is tied to the requirements it was made with, so a new dependency cannot leave the bench's
fast-build rows unmeasured (scripts/build_fast_dlib.sh writes the stamp; bench/__main__.py checks it)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from bench import __main__ as bench_main

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_the_bench_and_the_build_script_compute_the_same_requirements_key():
    script = (REPO_ROOT / "scripts" / "build_fast_dlib.sh").read_text()
    line = re.search(r'^REQS_KEY="\$\((.*)\)"$', script, re.MULTILINE)
    assert line, "build_fast_dlib.sh no longer keys its venv by the requirements"
    shell = subprocess.run(["bash", "-c", line.group(1)], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert shell.stdout.strip() == bench_main.requirements_key()


def test_a_fast_venv_made_for_other_requirements_is_not_used(tmp_path, monkeypatch):
    venv = tmp_path / ".venv-fastdlib"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(Path(bench_main.sys.executable))
    monkeypatch.setattr(bench_main, "FAST_VENV", venv)
    monkeypatch.setattr(bench_main.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, "20.0.1", ""))

    (venv / ".fastdlib-abc-000000000000").touch()
    python, why = bench_main.fast_python()
    assert python is None and "other requirements" in why

    (venv / f".fastdlib-abc-{bench_main.requirements_key()}").touch()
    assert bench_main.fast_python() == (venv / "bin" / "python", None)
