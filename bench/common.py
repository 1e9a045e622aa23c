"""Shared helpers: bounded timing loops, the machine and dlib build descriptions, paths. No Django here."""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
CACHE_DIR = REPO_ROOT / "var" / "bench"


def faces_dir() -> Path:
    """The shared face photos: $LFR_SHARED_DIR/data/faces, else <repo>/../shared/data/faces."""
    base = Path(os.environ["LFR_SHARED_DIR"]) if os.environ.get("LFR_SHARED_DIR") else REPO_ROOT / ".." / "shared"
    path = (base / "data" / "faces").resolve()
    if not path.is_dir():
        raise FileNotFoundError(f"shared face photos not found at {path} (set LFR_SHARED_DIR)")
    return path


def enrolment_photos() -> list[Path]:
    """Every single-person photo at the top of the faces folder (jpg/png), two_people excluded."""
    folder = faces_dir()
    photos = [p for p in sorted(folder.iterdir()) if p.suffix.lower() in (".jpg", ".jpeg", ".png")]
    return [p for p in photos if "two_people" not in p.name]


# --- timing --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stats:
    """Median of n timed runs, with the spread, in seconds (or whatever unit the runs return)."""

    median: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, samples: list[float]) -> Stats:
        if not samples:
            raise ValueError("no samples")
        return cls(statistics.median(samples), min(samples), max(samples), len(samples))

    @property
    def spread(self) -> float:
        """(max - min) / median: how noisy the runs were."""
        return (self.high - self.low) / self.median if self.median else 0.0

    def scaled(self, factor: float) -> Stats:
        return Stats(self.median * factor, self.low * factor, self.high * factor, self.n)

    def inverted(self, numerator: float = 1.0) -> Stats:
        """numerator / x (e.g. seconds per item -> items per second); low and high swap."""
        return Stats(numerator / self.median, numerator / self.high, numerator / self.low, self.n)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Stats:
        return cls(float(data["median"]), float(data["low"]), float(data["high"]), int(data["n"]))


def repeat(run: Callable[[], float], *, repeats: int, max_seconds: float, min_runs: int = 2) -> Stats:
    """Call `run` (which returns one sample) up to `repeats` times, stopping early once `max_seconds` have passed
    (but not before `min_runs` samples). Every loop in the bench is bounded this way."""
    samples: list[float] = []
    start = time.perf_counter()
    for _ in range(max(1, repeats)):
        samples.append(run())
        if len(samples) >= min_runs and time.perf_counter() - start > max_seconds:
            break
    return Stats.of(samples)


def per_call(fn: Callable[[], Any], *, calls: int, max_seconds: float) -> tuple[float, float]:
    """(wall, cpu) mean seconds per call of `fn` over at most `calls` calls or `max_seconds` (at least one).

    CPU time is this process's own (user + system): on a machine shared with other work it moves much less than
    wall time, because time spent waiting for a core is not counted. Only meaningful for single-threaded work.
    """
    done = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    while done < calls:
        fn()
        done += 1
        if time.perf_counter() - wall0 > max_seconds:
            break
    return (time.perf_counter() - wall0) / done, (time.process_time() - cpu0) / done


def timed(
    fn: Callable[[], Any], *, calls: int, repeats: int, max_seconds: float, per_sample_seconds: float = 4.0
) -> dict[str, Stats]:
    """{"wall": Stats, "cpu": Stats} of seconds per call: `repeats` samples of up to `calls` calls each, all
    bounded in time (a sample stops after `per_sample_seconds`, the whole after `max_seconds`)."""
    walls: list[float] = []
    cpus: list[float] = []
    start = time.perf_counter()
    for _ in range(max(1, repeats)):
        wall, cpu = per_call(fn, calls=calls, max_seconds=per_sample_seconds)
        walls.append(wall)
        cpus.append(cpu)
        if len(walls) >= 2 and time.perf_counter() - start > max_seconds:
            break
    return {"wall": Stats.of(walls), "cpu": Stats.of(cpus)}


def stats_dict(pair: dict[str, Stats], factor: float = 1.0) -> dict[str, Any]:
    return {k: v.scaled(factor).to_dict() for k, v in pair.items()}


# --- the machine ---------------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    cpu = "unknown"
    flags: set[str] = set()
    try:
        text = Path("/proc/cpuinfo").read_text()
        if m := re.search(r"^model name\s*:\s*(.+)$", text, re.M):
            cpu = m.group(1).strip()
        if m := re.search(r"^flags\s*:\s*(.+)$", text, re.M):
            flags = set(m.group(1).split())
    except OSError:
        pass
    ram_gib = None
    try:
        if m := re.search(r"^MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text(), re.M):
            ram_gib = round(int(m.group(1)) / 1024 / 1024, 1)
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = (float("nan"),) * 3
    l3 = None
    with contextlib.suppress(OSError, ValueError):
        l3 = Path("/sys/devices/system/cpu/cpu0/cache/index3/size").read_text().strip()
        if l3.endswith("K"):
            l3 = f"{int(l3[:-1]) // 1024} MiB"
    model = None
    with contextlib.suppress(OSError, AttributeError):
        text = Path("/proc/cpuinfo").read_text()
        family = re.search(r"^cpu family\s*:\s*(\d+)", text, re.M).group(1)  # type: ignore[union-attr]
        number = re.search(r"^model\s*:\s*(\d+)", text, re.M).group(1)  # type: ignore[union-attr]
        model = f"family {family} model {number}"
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "l3": l3,
        "cpu_model": model,
        "virtualised": "hypervisor" in flags,
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "ram_gib": ram_gib,
        "simd": [f for f in ("sse4_2", "avx", "avx2", "fma", "avx512f") if f in flags],
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_avg": [round(x, 2) for x in load],
        "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "(unset)"),
    }


def load_now() -> float:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return float("nan")


# --- the dlib build ------------------------------------------------------------------------------------------


def _instruction_profile(so: Path) -> dict[str, Any]:
    """Counts of AVX (ymm), AVX2-integer (vp* on ymm) and FMA instructions in the binary, cached by content hash."""
    digest = hashlib.sha256()
    with so.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    key = digest.hexdigest()[:16]
    cache = CACHE_DIR / f"isa-v2-{key}.json"
    if cache.exists():
        return json.loads(cache.read_text())
    if not shutil.which("objdump"):
        return {"error": "objdump not installed"}
    counts = {"ymm": 0, "avx2_int_ymm": 0, "fma": 0, "zmm": 0}
    try:
        proc = subprocess.Popen(
            ["objdump", "-d", "--no-show-raw-insn", str(so)], stdout=subprocess.PIPE, text=True, errors="replace"
        )
        deadline = time.monotonic() + 120
        assert proc.stdout is not None
        for line in proc.stdout:
            if "\t" not in line:
                continue
            insn = line.split("\t", 2)[-1]
            if "ymm" in insn:
                counts["ymm"] += 1
                # vp* on ymm is AVX2, except the AVX1 permutes vperm2f128 / vpermilps / vpermilpd.
                if insn.startswith("vp") and not insn.startswith(("vperm2f128", "vpermilp")):
                    counts["avx2_int_ymm"] += 1
            if "zmm" in insn:
                counts["zmm"] += 1
            if insn.startswith(("vfmadd", "vfnmadd", "vfmsub", "vfnmsub")):
                counts["fma"] += 1
            if time.monotonic() > deadline:
                proc.kill()
                return {"error": "objdump took over 120 s"}
        proc.wait(timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        return {"error": f"objdump failed: {exc}"}
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(counts))
    return counts


def dlib_build_info(*, inspect_binary: bool = True) -> dict[str, Any]:
    """What the importable dlib is: version, BLAS/LAPACK/CUDA, distribution, compiler, linked BLAS, ISA use."""
    import importlib.metadata

    import dlib

    info: dict[str, Any] = {
        "version": str(getattr(dlib, "__version__", "?")),
        "DLIB_USE_BLAS": getattr(dlib, "DLIB_USE_BLAS", None),
        "DLIB_USE_LAPACK": getattr(dlib, "DLIB_USE_LAPACK", None),
        "DLIB_USE_CUDA": getattr(dlib, "DLIB_USE_CUDA", None),
        "python": sys.executable,
    }
    for dist in ("dlib-bin", "dlib"):
        try:
            info["distribution"] = f"{dist} {importlib.metadata.version(dist)}"
            break
        except importlib.metadata.PackageNotFoundError:
            continue
    so = None
    ext = getattr(dlib, "_dlib_pybind11", None)
    if ext is not None and getattr(ext, "__file__", None):
        so = Path(ext.__file__)
    else:
        site = Path(dlib.__file__).resolve().parents[1]
        found = sorted(site.glob("_dlib_pybind11*.so"))
        so = found[0] if found else None
    if so is not None and so.exists():
        info["binary"] = str(so)
        if shutil.which("readelf"):
            out = subprocess.run(["readelf", "-p", ".comment", str(so)], capture_output=True, text=True, timeout=30)
            compilers = sorted({m.strip() for m in re.findall(r"\]\s+(GCC:.*|.*clang version.*)", out.stdout)})
            info["compiler"] = "; ".join(compilers) or "unknown"
        if shutil.which("ldd"):
            out = subprocess.run(["ldd", str(so)], capture_output=True, text=True, timeout=30)
            blas = [line.split("=>")[0].strip() for line in out.stdout.splitlines() if re.search(r"blas|lapack", line)]
            info["linked_blas"] = blas
        if inspect_binary:
            info["instructions"] = _instruction_profile(so)
    build_info = Path(sys.prefix) / "FASTDLIB_BUILD_INFO.txt"
    if build_info.exists():
        info["build_info"] = build_info.read_text().strip().splitlines()
    return info


def describe_dlib(info: dict[str, Any]) -> str:
    """One line: version, distribution, BLAS, compiler, SIMD evidence."""
    parts = [f"dlib {info.get('version')} ({info.get('distribution', '?')})"]
    flags = (f"{name}={info.get('DLIB_USE_' + name)}" for name in ("BLAS", "LAPACK", "CUDA"))
    parts.append(" ".join(flags))
    if info.get("linked_blas"):
        parts.append("links " + ", ".join(info["linked_blas"]))
    if info.get("compiler"):
        parts.append(info["compiler"])
    isa = info.get("instructions") or {}
    if "error" not in isa and isa:
        parts.append(
            f"binary: {isa.get('ymm', 0):,} ymm (AVX) instrs, {isa.get('avx2_int_ymm', 0):,} AVX2-int, "
            f"{isa.get('fma', 0):,} FMA, {isa.get('zmm', 0):,} zmm"
        )
    return "; ".join(parts)


def build_flags(info: dict[str, Any]) -> str:
    """The compiler flags recorded by scripts/build_fast_dlib.sh, if this is that build."""
    lines = info.get("build_info") or []
    flags = [line for line in lines if line.startswith(("cxxflags=", "cmake=", "compiler="))]
    for line in lines:
        if line.startswith("flags[dlib.dir]") and (m := re.search(r"CXX_FLAGS = (.*?)(?: -DDLIB|$)", line)):
            flags.append("libdlib compiled with: " + " ".join(m.group(1).split()))
    return " | ".join(flags)
