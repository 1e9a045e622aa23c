"""Sections 5 (in-process enrolment) and 6 (encoding and HOG speed) for whatever dlib this interpreter imports.

`python -m bench.micro --json out.json` runs in the main .venv (dlib-bin) and, as a subprocess, in
.venv-fastdlib (dlib built by scripts/build_fast_dlib.sh); bench/__main__.py puts the two side by side.
Only numpy, PIL, dlib and face_recognition: no Django.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import (
    Stats,
    dlib_build_info,
    enrolment_photos,
    faces_dir,
    load_now,
    per_call,
    stats_dict,
    timed,
)
from matching import engine

# Importing face_recognition turns PIL's LOAD_TRUNCATED_IMAGES on; the engine imports it and turns it back off,
# so the raw library is reached through the engine's loader (the same module object, nothing wrapped).
fr = engine._face_recognition()

MAX_PIXELS = 40_000_000
CONFIG = engine.EngineConfig()  # hog, upsample 0, 1 jitter, large landmarks, min face 40 px: the settings' defaults


def _frame(name: str, size: tuple[int, int] | None) -> np.ndarray:
    """Decode a shared photo; centre-crop it to `size` (width, height) when given."""
    image = engine.decode_image((faces_dir() / name).read_bytes(), max_pixels=MAX_PIXELS)
    if size is None:
        return image
    width, height = size
    h, w = image.shape[:2]
    if w < width or h < height:
        raise ValueError(f"{name} is {w}×{h}, smaller than {width}×{height}")
    top, left = (h - height) // 2, (w - width) // 2
    return np.ascontiguousarray(image[top : top + height, left : left + width])


def section6(*, quick: bool) -> dict[str, Any]:
    """ms for HOG detection per frame (upsample 0 and 1) and ms per face for the 128-d encoding, wall and CPU."""
    frames = {
        "640x480": _frame("obama-480p.jpg", (640, 480)),  # the 853×480 photo centre-cropped to 640×480
        "1280x720": _frame("obama-720p.jpg", None),
    }
    repeats = 3 if quick else 5
    out: dict[str, Any] = {}
    for label, image in frames.items():
        for upsample in (0, 1):
            found = fr.face_locations(image, number_of_times_to_upsample=upsample, model="hog")  # warm-up
            calls = 2 if (upsample or label != "640x480") else 4
            stats = timed(
                lambda image=image, upsample=upsample: fr.face_locations(
                    image, number_of_times_to_upsample=upsample, model="hog"
                ),
                calls=calls,
                repeats=repeats,
                max_seconds=15,
            )
            out[f"hog_{label}_up{upsample}"] = {"ms": stats_dict(stats, 1000), "faces": len(found)}
        boxes = fr.face_locations(image, number_of_times_to_upsample=0, model="hog") or fr.face_locations(
            image, number_of_times_to_upsample=1, model="hog"
        )
        if not boxes:
            out[f"encode_{label}"] = {"error": "no face detected"}
            continue
        box = [boxes[0]]
        fr.face_encodings(image, known_face_locations=box, num_jitters=1, model="large")  # warm-up
        stats = timed(
            lambda image=image, box=box: fr.face_encodings(
                image, known_face_locations=box, num_jitters=1, model="large"
            ),
            calls=4,
            repeats=repeats,
            max_seconds=15,
        )
        encoding = fr.face_encodings(image, known_face_locations=box, num_jitters=1, model="large")[0]
        # Kept so the report can check that both dlib builds compute the same encoding.
        out[f"encode_{label}"] = {"ms": stats_dict(stats, 1000), "faces": 1, "encoding": [float(x) for x in encoding]}
    return out


def section5(*, quick: bool) -> dict[str, Any]:
    """Images per second: the engine's enrolment path versus load_image_file + face_locations + face_encodings.

    Both do the same work with the same settings (HOG, upsample 0, large landmarks, 1 jitter) and both read
    the file; the engine also checks the format, applies EXIF orientation and refuses images without exactly
    one usable face (those still count as processed images, as they do for a worker).
    """
    photos = enrolment_photos()
    outcomes: dict[str, str] = {}
    raw_faces: dict[str, int] = {}

    def engine_pass() -> None:
        for path in photos:
            try:
                engine.enrolment_encoding(path.read_bytes(), config=CONFIG, max_pixels=MAX_PIXELS)
                outcomes[path.name] = "enrolled"
            except engine.EngineError as exc:
                outcomes[path.name] = exc.code

    def raw_pass() -> None:
        for path in photos:
            image = fr.load_image_file(str(path))
            boxes = fr.face_locations(image, number_of_times_to_upsample=CONFIG.upsample, model=CONFIG.detector)
            encodings = fr.face_encodings(
                image, known_face_locations=boxes, num_jitters=CONFIG.num_jitters, model=CONFIG.encoding_model
            )
            raw_faces[path.name] = len(encodings)

    engine_pass(), raw_pass()  # warm-up: models loaded, files in the page cache
    samples: dict[str, dict[str, list[float]]] = {"engine": {"wall": [], "cpu": []}, "raw": {"wall": [], "cpu": []}}
    start = time.perf_counter()
    for _ in range(3 if quick else 5):  # alternate, so drifting load hits both alike
        for name, fn in (("engine", engine_pass), ("raw", raw_pass)):
            wall, cpu = per_call(fn, calls=1, max_seconds=60)
            samples[name]["wall"].append(len(photos) / wall)
            samples[name]["cpu"].append(len(photos) / cpu)
        if len(samples["raw"]["wall"]) >= 2 and time.perf_counter() - start > 90:
            break
    return {
        "images": len(photos),
        "engine_ips": {k: Stats.of(v).to_dict() for k, v in samples["engine"].items()},
        "raw_ips": {k: Stats.of(v).to_dict() for k, v in samples["raw"].items()},
        "engine_outcomes": outcomes,
        "raw_faces": raw_faces,
    }


def section6_tasks() -> tuple[dict[str, tuple[Any, int]], dict[str, Any]]:
    """Section 6 as named tasks (callable, calls per sample) for the paired mode, and facts about the inputs."""
    frames = {
        "640x480": _frame("obama-480p.jpg", (640, 480)),
        "1280x720": _frame("obama-720p.jpg", None),
    }
    tasks: dict[str, tuple[Any, int]] = {}
    facts: dict[str, Any] = {}
    for label, image in frames.items():
        for upsample in (0, 1):
            key = f"hog_{label}_up{upsample}"
            tasks[key] = (
                lambda image=image, upsample=upsample: fr.face_locations(
                    image, number_of_times_to_upsample=upsample, model="hog"
                ),
                1 if upsample or label != "640x480" else 3,
            )
            facts[key] = {"faces": len(tasks[key][0]())}
        boxes = fr.face_locations(image, number_of_times_to_upsample=0, model="hog")
        if not boxes:
            facts[f"encode_{label}"] = {"error": "no face detected"}
            continue
        box = [boxes[0]]
        key = f"encode_{label}"
        tasks[key] = (
            lambda image=image, box=box: fr.face_encodings(
                image, known_face_locations=box, num_jitters=1, model="large"
            ),
            2,
        )
        facts[key] = {"faces": 1, "encoding": [float(x) for x in tasks[key][0]()[0]]}
    return tasks, facts


def serve() -> int:
    """`--serve`: a long-lived process answering "<task>" lines with one timed sample as JSON, so that
    bench.paired can alternate two dlib builds sample by sample (drifting load then hits both alike)."""
    tasks, facts = section6_tasks()
    for fn, _ in tasks.values():
        fn()  # warm-up
    sys.stdout.write(
        json.dumps({"ready": True, "tasks": list(tasks), "facts": facts, "dlib": dlib_build_info()}) + "\n"
    )
    sys.stdout.flush()
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        if words[0] not in tasks:
            sys.stdout.write(json.dumps({"error": f"unknown task {words[0]}"}) + "\n")
        else:
            fn, calls = tasks[words[0]]
            wall, cpu = per_call(fn, calls=calls, max_seconds=5)
            sys.stdout.write(json.dumps({"wall": wall, "cpu": cpu}) + "\n")
        sys.stdout.flush()
    return 0


def run(*, sections: set[str], quick: bool) -> dict[str, Any]:
    result: dict[str, Any] = {"dlib": dlib_build_info(), "load_before": load_now()}
    started = time.perf_counter()
    if "6" in sections:
        result["section6"] = section6(quick=quick)
    if "5" in sections:
        result["section5"] = section5(quick=quick)
    result["seconds"] = round(time.perf_counter() - started, 1)
    result["load_after"] = load_now()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", type=Path, help="write the results here (default: stdout)")
    parser.add_argument("--sections", default="5,6")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--serve", action="store_true", help="paired mode for bench.paired (reads stdin)")
    args = parser.parse_args(argv)
    if args.serve:
        return serve()
    result = run(sections=set(args.sections.split(",")), quick=args.quick)
    text = json.dumps(result, indent=1)
    if args.json:
        args.json.write_text(text)
    else:
        sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
