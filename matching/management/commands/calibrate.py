"""Measure the installed matcher on a labelled dataset (LFW layout) and store a calibration record (domain.md 9).

python manage.py calibrate DATASET_DIR [--pairs FILE] [--watchlist-sizes 100,1000] [--budget 0.0001]
    --user USERNAME [--local] [--workers N] [--attributes CSV] [--description TEXT] [--plot PATH] [--seed N]
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.crypto import decrypt_bytes
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
from matching.config import engine_config
from matching.engine import AlertPolicy, EngineConfig, encoding_from_bytes
from matching.models import AlertBudgetPolicy
from matching.services.calibration import calibration_record_create, encoding_cache_lookup, encoding_cache_store
from matching.tasks import encode_calibration_file

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})
PING_TIMEOUT_SECONDS = 2.0
# A worker that has produced nothing for this long is treated as gone (the filesystem broker is not crash-safe).
STALL_SECONDS = 600
EncodeResult = tuple[np.ndarray | None, str]


# --- progress bar (tqdm is not a dependency) --------------------------------------------------------------


class ProgressBar:
    """A one-line progress bar on a terminal stream; on a non-terminal it prints a line every 10 %."""

    def __init__(self, total: int, label: str, stream: TextIO | Any, *, width: int = 30) -> None:
        self.total, self.label, self.stream, self.width = total, label, stream, width
        self.done = 0
        self.started = time.monotonic()
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self._last_tenth = -1
        self._draw()

    def update(self, n: int = 1) -> None:
        self.done = min(self.total, self.done + n)
        self._draw()

    def _draw(self) -> None:
        fraction = self.done / self.total if self.total else 1.0
        tenth = int(fraction * 10)
        if not self.tty and tenth == self._last_tenth and self.done != self.total:
            return
        self._last_tenth = tenth
        filled = int(round(fraction * self.width))
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.done / elapsed
        line = (
            f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total} "
            f"{fraction:4.0%} {rate:5.1f}/s"
        )
        self._write(("\r" + line) if self.tty else (line + "\n"))

    def close(self) -> None:
        if self.tty:
            self._write("\n")

    def _write(self, text: str) -> None:
        if hasattr(self.stream, "style_func"):  # Django's OutputWrapper adds a newline unless told not to
            self.stream.write(text, ending="")
        else:
            self.stream.write(text)
        self.stream.flush()


# --- the dataset ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetImage:
    identity: str
    index: int | None  # the LFW number in Name_0001.jpg, None for other file names
    path: Path
    relative: str
    sha256: str


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def scan_dataset(root: Path) -> list[DatasetImage]:
    """Every image of the LFW layout (one folder per person), sorted, with its content hash."""
    images: list[DatasetImage] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        number = re.compile(rf"^{re.escape(folder.name)}_(\d+)$")
        for file in sorted(folder.iterdir()):
            if not file.is_file() or file.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            match = number.match(file.stem)
            images.append(
                DatasetImage(
                    identity=folder.name,
                    index=int(match.group(1)) if match else None,
                    path=file.resolve(),
                    relative=f"{folder.name}/{file.name}",
                    sha256=_sha256_file(file),
                )
            )
    return images


def dataset_hash(images: Iterable[DatasetImage]) -> str:
    """sha256 over the sorted (relative path, content hash) lines: names and pixels both count."""
    digest = hashlib.sha256()
    for image in sorted(images, key=lambda i: i.relative):
        digest.update(f"{image.relative}\t{image.sha256}\n".encode())
    return digest.hexdigest()


# --- encoding ---------------------------------------------------------------------------------------------


def _decode_result(result: dict[str, Any]) -> EncodeResult:
    if result.get("encoding") is None:
        return None, str(result.get("error") or "failed")
    return encoding_from_bytes(decrypt_bytes(result["encoding"].encode("ascii"))), ""


def encode_local(
    jobs: dict[str, str], config: EngineConfig, workers: int, on_done: Callable[[], None]
) -> dict[str, EncodeResult]:
    """Encode {file hash: path} in a local process pool."""
    results: dict[str, EncodeResult] = {}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {
            pool.submit(encode_calibration_file, path, config.to_dict()): file_hash for file_hash, path in jobs.items()
        }
        for future in as_completed(futures):
            results[futures[future]] = _decode_result(future.result())
            on_done()
    return results


def check_worker() -> None:
    """Fail with the fix when no Celery worker answers or none consumes the calibration queue."""
    from lfr_portal.celery import app

    hint = (
        "Run again with --local to encode in a local process pool, or start a worker (make run, or "
        "`celery -A lfr_portal worker --queues calibration`)."
    )
    try:
        replies = app.control.ping(timeout=PING_TIMEOUT_SECONDS)
    except Exception as exc:  # any broker failure means the same thing to the user
        raise CommandError(f"Cannot reach the Celery broker ({exc}). {hint}") from exc
    if not replies:
        raise CommandError(f"No Celery worker answered within {PING_TIMEOUT_SECONDS:g} s. {hint}")
    queues = app.control.inspect(timeout=PING_TIMEOUT_SECONDS).active_queues() or {}
    if queues and not any(q.get("name") == "calibration" for listed in queues.values() for q in listed):
        raise CommandError(f"No running worker consumes the 'calibration' queue. {hint}")


def encode_celery(jobs: dict[str, str], config: EngineConfig, on_done: Callable[[], None]) -> dict[str, EncodeResult]:
    """Encode {file hash: path} on Celery workers (queue "calibration") as one group; results as they arrive."""
    from celery import group

    from matching.tasks import encode_calibration_image

    hashes = list(jobs)
    signatures = [encode_calibration_image.s(jobs[h], config.to_dict()).set(queue="calibration") for h in hashes]
    outcome = group(signatures).apply_async()
    pending = dict(zip(hashes, outcome.results, strict=True))
    results: dict[str, EncodeResult] = {}
    last_progress = time.monotonic()
    try:
        while pending:
            finished = [h for h, r in pending.items() if r.ready()]
            for file_hash in finished:
                task = pending.pop(file_hash)
                if task.successful():
                    results[file_hash] = _decode_result(task.get(disable_sync_subtasks=False))
                else:
                    results[file_hash] = (None, "worker_error")
                task.forget()
                on_done()
            if finished:
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > STALL_SECONDS:
                raise CommandError(f"No result from the workers for {STALL_SECONDS} s; is a worker still running?")
            else:
                time.sleep(0.2)
    except BaseException:
        outcome.revoke()
        raise
    return results


# --- figures ----------------------------------------------------------------------------------------------


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(part.replace("_", "")) for part in text.split(",") if part.strip()})
    except ValueError as exc:
        raise CommandError(f"--watchlist-sizes must be comma-separated whole numbers, not {text!r}") from exc
    if not sizes or sizes[0] < 1:
        raise CommandError("--watchlist-sizes needs at least one size of 1 or more")
    return sizes


def read_attributes(path: Path) -> dict[str, str]:
    """identity -> group from a CSV with the columns identity,group."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or not {"identity", "group"} <= {f.strip() for f in reader.fieldnames}:
                raise CommandError(f"{path} must have the columns identity,group")
            rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in reader]
    except OSError as exc:
        raise CommandError(f"Cannot read --attributes {path}: {exc}") from exc
    return {row["identity"]: row["group"] for row in rows if row.get("identity") and row.get("group")}


def fmt_rate(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:.1%}"


def fmt_per_10k(rate: float | None) -> str:
    if rate is None:
        return "—"
    value = rate * 10_000
    return f"{value:,.0f}" if value >= 10 else f"{value:.2g}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True)), line]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join("  " + text for text in out)


def describe_point(point: dict[str, Any] | None, kind: str, non_mated_probes: int) -> str:
    if non_mated_probes == 0:
        return "no unlisted faces to measure"
    if point is None:
        return "none meets the budget"
    setting = f"t≤{point['threshold']:.2f}" + (f", margin≥{point['margin']:.2f}" if kind == "margin" else "")
    return f"{setting}: TPIR {fmt_rate(point['tpir'])}, FPIR {point['fpir']:.4g}"


class Command(BaseCommand):
    help = (
        "Measure the matcher on a labelled dataset (one folder per person, LFW layout): verification with --pairs, "
        "1:N identification per watch-list size, per-group figures with --attributes. Stores a draft calibration "
        "record for the DPO to approve."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("dataset_dir", help="folder with one sub-folder of images per person (Name/Name_0001.jpg)")
        parser.add_argument("--pairs", help="LFW-format pairs file for 1:1 verification")
        parser.add_argument(
            "--watchlist-sizes", default="100,1000", help="comma-separated watch-list sizes (default 100,1000)"
        )
        parser.add_argument("--budget", type=float, help="false-alert budget FPIR (default: the force's setting)")
        parser.add_argument("--local", action="store_true", help="encode in a local process pool, not on workers")
        parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="local processes (--local)")
        parser.add_argument("--attributes", help="CSV with columns identity,group: report figures per group")
        parser.add_argument("--description", default="", help="what this dataset is and why it was run")
        parser.add_argument(
            "--user",
            required=True,
            help="username of the person running the calibration (recorded; they cannot approve it themselves)",
        )
        parser.add_argument("--plot", help="also write the DET plot PNG to this path")
        parser.add_argument("--seed", type=int, default=0, help="seed of the simulated enrolment (default 0)")

    def handle(self, *args: Any, **options: Any) -> None:
        root = Path(options["dataset_dir"]).expanduser()
        if not root.is_dir():
            raise CommandError(f"{root} is not a folder")
        root = root.resolve()
        sizes = parse_sizes(options["watchlist_sizes"])
        budget = options["budget"] if options["budget"] is not None else AlertBudgetPolicy.current().budget_fpir
        if not 0 < budget <= 1:
            raise CommandError("--budget is a share of faces: more than 0 and at most 1 (1 in 10,000 is 0.0001)")
        if options["workers"] < 1:
            raise CommandError("--workers must be 1 or more")
        actor = self._actor(options["user"])
        pairs_file = self._read_pairs(options["pairs"])
        attributes = read_attributes(Path(options["attributes"])) if options["attributes"] else None
        threshold = float(getattr(settings, "LFR_POLICY_THRESHOLD", 0.6))
        config = engine_config()
        fingerprint = config.fingerprint()

        images = scan_dataset(root)
        if not images:
            raise CommandError(f"{root} holds no JPEG or PNG images in per-person folders (Name/Name_0001.jpg)")
        if not options["local"]:
            check_worker()
        encodings = self._encode(images, config, fingerprint, local=options["local"], workers=options["workers"])

        by_identity: dict[str, list[np.ndarray]] = {}
        by_key: dict[tuple[str, int], np.ndarray | None] = {}
        failures = []
        for image in images:
            encoding, error = encodings[image.sha256]
            by_identity.setdefault(image.identity, [])
            if encoding is None:
                failures.append({"file": image.relative, "code": error})
            else:
                by_identity[image.identity].append(encoding)
            if image.index is not None:
                by_key[(image.identity, image.index)] = encoding
        matrices = {
            name: np.stack(rows) if rows else np.empty((0, 128), dtype=np.float32) for name, rows in by_identity.items()
        }

        out = self.stdout
        out.write("")
        out.write(f"Calibration of {root}")
        out.write(
            f"Engine: {config.detector} detector, upsample {config.upsample}, {config.num_jitters} jitter(s), "
            f"{config.encoding_model} landmark model, faces of at least {config.min_face_px} px "
            f"(fingerprint {fingerprint[:12]})"
        )
        digest = dataset_hash(images)
        out.write(
            f"Dataset: {len(by_identity)} identities, {len(images)} images, {len(failures)} without a usable face "
            f"(content hash {digest[:12]})"
        )
        for failure in failures[:20]:
            out.write(f"  no encoding: {failure['file']} ({failure['code']})")
        if len(failures) > 20:
            out.write(f"  … and {len(failures) - 20} more")

        verification = None
        if pairs_file is not None:
            verification = self._verification(pairs_file, by_key, threshold, options["pairs"])

        simulation = identification_simulation(matrices, sizes, seed=options["seed"])
        curves = {str(k): v for k, v in curves_by_size(simulation).items()}
        operating_points = self._identification(simulation, curves, budget, threshold)
        groups = None
        if attributes is not None:
            groups = group_report(matrices, attributes, sizes, seed=options["seed"])
            self._groups(groups, attributes, matrices, budget, threshold)

        buffer = io.BytesIO()
        plot_det(curves, buffer, budget_fpir=budget, title=f"Calibration: {root.name}")
        png = buffer.getvalue()
        if options["plot"]:
            plot_path = Path(options["plot"]).expanduser()
            try:
                plot_path.parent.mkdir(parents=True, exist_ok=True)
                plot_path.write_bytes(png)
            except OSError as exc:
                raise CommandError(f"Cannot write the plot to {plot_path}: {exc}") from exc
            out.write(f"DET plot written to {plot_path}")

        record = calibration_record_create(
            actor=actor,
            config=config,
            dataset_path=str(root),
            dataset_hash=digest,
            description=options["description"],
            identities=len(by_identity),
            images=len(images),
            failed_images=len(failures),
            pairs=len(pairs_file.pairs) if pairs_file else 0,
            failures=failures,
            verification=verification,
            identification=simulation,
            operating_points=operating_points,
            groups=groups,
            budget_fpir=budget,
            policy_threshold=threshold,
            seed=options["seed"],
            det_plot=png,
        )
        out.write("")
        out.write(
            self.style.SUCCESS(
                f"Stored calibration record #{record.pk} (draft). The Data Protection Officer reviews and approves it "
                "in the portal before the budget check uses it."
            )
        )

    # --- steps ---

    def _actor(self, username: str | None) -> Any:
        # The record names who ran it, so that they cannot approve it themselves (domain.md 9): an empty --user
        # would store a run nobody could be shown not to have approved.
        username = (username or "").strip()
        if not username:
            raise CommandError("--user needs the username of the person running the calibration (it is recorded)")
        from django.contrib.auth import get_user_model

        try:
            return get_user_model().objects.get(username=username, is_active=True)
        except get_user_model().DoesNotExist as exc:
            raise CommandError(f"No active user named {username!r} (--user)") from exc

    def _read_pairs(self, path: str | None) -> Any:
        if not path:
            return None
        try:
            return parse_pairs(Path(path).expanduser().read_text(encoding="utf-8"))
        except OSError as exc:
            raise CommandError(f"Cannot read --pairs {path}: {exc}") from exc
        except ValueError as exc:
            raise CommandError(f"{path} is not a valid pairs file: {exc}") from exc

    def _encode(
        self, images: list[DatasetImage], config: EngineConfig, fingerprint: str, *, local: bool, workers: int
    ) -> dict[str, EncodeResult]:
        hashes = {image.sha256 for image in images}
        cached = encoding_cache_lookup(file_hashes=hashes, engine_fingerprint=fingerprint)
        jobs = {image.sha256: str(image.path) for image in images if image.sha256 not in cached}
        hits = sum(1 for image in images if image.sha256 in cached)
        computed: dict[str, EncodeResult] = {}
        if jobs:
            where = f"{min(workers, len(jobs))} local process(es)" if local else "Celery workers"
            bar = ProgressBar(len(jobs), f"Encoding on {where}", self.stderr)
            try:
                if local:
                    computed = encode_local(jobs, config, min(workers, len(jobs)), bar.update)
                else:
                    computed = encode_celery(jobs, config, bar.update)
            finally:
                bar.close()
            encoding_cache_store(engine_fingerprint=fingerprint, results=computed)
        self.stdout.write(f"Encodings: {len(jobs)} computed, {hits} from the cache")
        return {**cached, **computed}

    def _verification(
        self, pairs_file: Any, by_key: dict[tuple[str, int], np.ndarray | None], threshold: float, name: str
    ) -> dict[str, Any]:
        missing = sorted({key for key in pairs_file.images() if key not in by_key})
        report = verification_report(pairs_file, pair_distances(pairs_file, by_key), threshold)
        report["missing_images"] = [f"{n}/{n}_{i:04d}" for n, i in missing]
        out = self.stdout
        out.write("")
        out.write(f"Verification (one photo against another), {report['pairs']} pairs from {Path(name).name}")
        out.write(
            f"  At the policy threshold {threshold:.2f}: accuracy {fmt_rate(report['accuracy'])}, "
            f"same person accepted (TAR) {fmt_rate(report['tar'])}, "
            f"different people accepted (FAR) {fmt_rate(report['far'])}"
        )
        out.write(
            f"  Best threshold on this data: {report['best_threshold']:.3f} "
            f"(accuracy {fmt_rate(report['best_accuracy'])})"
        )
        cv = report["cross_validation"]
        if cv:
            out.write(
                f"  {cv['folds']}-fold cross-validated accuracy: {cv['accuracy_mean']:.2%} ± {cv['accuracy_std']:.2%}"
            )
        if report["failed_pairs"]:
            out.write(
                f"  {report['failed_pairs']} pair(s) could not be compared (an image is missing or has no usable "
                "face); they count as 'not the same person'."
            )
        if missing:
            out.write(f"  {len(missing)} image(s) named in the pairs file are not in the dataset.")
        return report

    def _identification(
        self, simulation: dict[str, Any], curves: dict[str, Any], budget: float, threshold: float
    ) -> list[dict[str, Any]]:
        out = self.stdout
        out.write("")
        out.write(
            f"Identification (each face in a crowd against a watch-list); false-alert budget: "
            f"{fmt_per_10k(budget)} per 10,000 faces not on the list (FPIR ≤ {budget:g})"
        )
        out.write(
            f"  {simulation['identities_with_two_or_more_images']} identities have two or more images and can be "
            "enrolled; mated probes are their other images, every image of anyone not enrolled is a non-mated probe."
        )
        policy = AlertPolicy("threshold", threshold)
        rows, points, notes = [], [], []
        for entry in simulation["sizes"]:
            size = entry["size"]
            if entry["status"] != "ok":
                estimate = ""
                if curves:
                    fpir, _tpir, _how = expected_rates(curves, size, policy)
                    if fpir:
                        estimate = f"est. {fmt_per_10k(fpir)} (extrapolated, not measured)"
                    elif fpir == 0:
                        estimate = "below what was measurable (not measured)"
                rows.append([f"{size:,}", "REFUSED", "—", "—", "—", estimate or "—", "—", "—"])
                notes.append(f"  {size:,}: refused — {entry['reason']}.")
                continue
            size_curves = entry["curves"]
            fpir, tpir, _how = expected_rates({str(size): size_curves}, size, policy)
            best = {kind: operating_point(size_curves[kind], budget) for kind in ("threshold", "margin")}
            for kind, point in best.items():
                points.append(
                    {
                        "size": size,
                        "policy": kind,
                        "budget_fpir": budget,
                        "point": point,
                        "non_mated_probes": entry["non_mated_probes"],
                        "mated_probes": entry["mated_probes"],
                        "budget_resolvable": entry["non_mated_probes"] * budget >= 1,
                    }
                )
            rows.append(
                [
                    f"{size:,}",
                    "measured",
                    str(entry["mated_probes"]),
                    str(entry["non_mated_probes"]),
                    fmt_rate(tpir),
                    fmt_per_10k(fpir),
                    describe_point(best["threshold"], "threshold", entry["non_mated_probes"]),
                    describe_point(best["margin"], "margin", entry["non_mated_probes"]),
                ]
            )
            if entry["non_mated_probes"] * budget < 1:
                notes.append(
                    f"  {size:,}: only {entry['non_mated_probes']:,} face(s) not on the list were seen, too few to "
                    f"measure a rate as small as {budget:g}; a larger dataset is needed to show the budget is met."
                )
        out.write(
            table(
                [
                    "Watch-list",
                    "Status",
                    "Listed faces",
                    "Unlisted faces",
                    f"Listed found at {threshold:.2f}",
                    f"False alerts /10k at {threshold:.2f}",
                    "Best within budget: threshold rule",
                    "Best within budget: margin rule",
                ],
                rows,
            )
        )
        for note in notes:
            out.write(note)
        return points

    def _groups(
        self,
        report: dict[str, Any],
        attributes: dict[str, str],
        matrices: dict[str, np.ndarray],
        budget: float,
        threshold: float,
    ) -> None:
        out = self.stdout
        out.write("")
        out.write("Figures by group (the same mixed watch-lists, probes split by their group)")
        unknown = sorted(set(attributes) - set(matrices))
        if unknown:
            out.write(f"  {len(unknown)} identities in the attributes file are not in the dataset (ignored).")
        if report["unlabelled_identities"]:
            out.write(f"  {report['unlabelled_identities']} identities have no group; they count in no group's row.")
        policy = AlertPolicy("threshold", threshold)
        rows = []
        for group, data in report["groups"].items():
            for entry in data["sizes"]:
                if entry["status"] != "ok":
                    rows.append([f"{entry['size']:,}", group, str(data["identities"]), "REFUSED", "—", "—", "—", "—"])
                    continue
                fpir, tpir, _how = expected_rates({str(entry["size"]): entry["curves"]}, entry["size"], policy)
                point = operating_point(entry["curves"]["threshold"], budget)
                rows.append(
                    [
                        f"{entry['size']:,}",
                        group,
                        str(data["identities"]),
                        str(entry["mated_probes"]),
                        str(entry["non_mated_probes"]),
                        fmt_rate(tpir),
                        fmt_per_10k(fpir),
                        describe_point(point, "threshold", entry["non_mated_probes"]),
                    ]
                )
        rows.sort(key=lambda r: (int(r[0].replace(",", "")), r[1]))
        out.write(
            table(
                [
                    "Watch-list",
                    "Group",
                    "Identities",
                    "Listed faces",
                    "Unlisted faces",
                    f"Listed found at {threshold:.2f}",
                    f"False alerts /10k at {threshold:.2f}",
                    "Best within budget (threshold rule)",
                ],
                rows,
            )
        )
