"""Sections 1–3 (and the worker half of 5): the real live path against the raw library, on this machine.

API (gunicorn, camera token, multipart POST) → frame store in Redis → Celery `matching` worker(s) → detect,
encode, 1:N search → alert row in PostgreSQL, versus face_locations + face_encodings + compare_faces in a plain
loop on the same JPEG frames. Run by `python -m bench` as `python -m bench.pipeline --json FILE`:

- needs Redis at redis://127.0.0.1:6379/7 (DB 7 is the bench's own: flushed before and after) and PostgreSQL at
  postgres://postgres@127.0.0.1:5432 (the database `lfr_bench` is dropped, created and migrated here, and
  dropped again at the end unless --keep-db);
- seeds an authorised deployment, an approved watch-list and a live session through the services;
- starts `celery -A lfr_portal worker -Q matching -c 1` as subprocesses with the same env: one for the whole run,
  and a second one for the two-worker trials (stopped and started again between rounds).

Every wait and loop is bounded in time; on any failure the JSON holds {"error": reason} and whatever was
measured before it, and every process started here is stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import http.client
import io
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.common import REPO_ROOT, Stats, enrolment_photos, faces_dir

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")
PG_SERVER = os.environ.get("BENCH_PG_SERVER", "postgres://postgres@127.0.0.1:5432")
DB_NAME = "lfr_bench"
# e.g. BENCH_DATABASE_OPTIONS="?conn_max_age=60" to measure with persistent database connections.
DB_OPTIONS = os.environ.get("BENCH_DATABASE_OPTIONS", "")
WORK = REPO_ROOT / "var" / "bench" / f"run-{os.getpid()}"
FRAME_EVERY = 5
FRAME_SIZE = (640, 480)
WATCHED = "lin-manuel-miranda.png"
# Fernet key used only when the Makefile did not give one (the bench's data is public photos, dropped after).
FALLBACK_KEY = "YmVuY2gtb25seS1rZXktMDAwMDAwMDAwMDAwMDAwMDA="


def bench_env() -> dict[str, str]:
    """The environment of this process and of every server and worker it starts."""
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "lfr_portal.settings",
            "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or "bench-only-secret-key",
            "LFR_ENCODING_KEYS": os.environ.get("LFR_ENCODING_KEYS") or FALLBACK_KEY,
            "DATABASE_URL": f"{PG_SERVER}/{DB_NAME}{DB_OPTIONS}",
            "CELERY_BROKER_URL": REDIS_URL,
            "CELERY_RESULT_BACKEND": REDIS_URL,
            "LFR_FRAME_STORE_URL": "",  # the default: frames wait in the Redis broker's server
            "LFR_VAR_DIR": str(WORK / "var"),
            "LFR_MEDIA_ROOT": str(WORK / "media"),
            # Throughput runs queue a whole clip at once: without these the 10-frame queue cap answers 429 and
            # frames older than the 5 s live budget are dropped as stale instead of being matched.
            "LFR_MAX_SESSION_QUEUE": "1000",
            "LFR_LIVE_BUDGET_SECONDS": "300",
            # One alert row per matching frame (no merging into a recent alert), so every frame's latency shows.
            "LFR_ALERT_REPEAT_SECONDS": "0",
            "LFR_LOG_LEVEL": "WARNING",
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "PYTHONWARNINGS": "ignore",
            "PYTHONPATH": str(REPO_ROOT),
        }
    )
    env.pop("DJANGO_DEBUG", None)
    return env


# --- services ------------------------------------------------------------------------------------------------


def preflight() -> str | None:
    """Why the pipeline cannot be measured here, or None."""
    try:
        import psycopg
        import redis
    except ImportError as exc:
        return f"{exc.name} is not installed"
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001
        return f"Redis not reachable at {REDIS_URL} ({exc.__class__.__name__})"
    try:
        with psycopg.connect(f"{PG_SERVER}/postgres", connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001
        return f"PostgreSQL not reachable at {PG_SERVER} ({exc.__class__.__name__})"
    return None


def recreate_database() -> None:
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True, connect_timeout=3) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")


def drop_database() -> None:
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True, connect_timeout=3) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


def flush_redis() -> None:
    import redis

    redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).flushdb()


def django_setup() -> str | None:
    """Configure Django for the bench database; returns why the pipeline modules cannot be used, or None."""
    import django

    django.setup()
    try:
        import compliance.services.watchlists  # noqa: F401
        import compliance.tasks  # noqa: F401
        import matching.framestore  # noqa: F401
        import matching.services.frames  # noqa: F401
        import matching.services.sessions  # noqa: F401
        import matching.tasks  # noqa: F401
        from matching.tasks import process_frame  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - a half-written pipeline is reported, not crashed on
        return f"the matching pipeline is not importable ({exc.__class__.__name__}: {exc})"
    return None


# --- processes -----------------------------------------------------------------------------------------------


class Processes:
    """Every subprocess started here, stopped by its own pid (never by name)."""

    def __init__(self) -> None:
        self.procs: dict[str, subprocess.Popen] = {}
        (WORK / "logs").mkdir(parents=True, exist_ok=True)

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        log = (WORK / "logs" / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            argv,
            cwd=REPO_ROOT,
            env={**bench_env(), **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs[name] = proc
        return proc

    def stop(self, name: str, timeout: float = 30) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        # The worker's pool children are in its process group (start_new_session): signal that group only.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)

    def log_tail(self, name: str, lines: int = 15) -> str:
        path = WORK / "logs" / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def wait_until(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.02) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if condition():
            return time.perf_counter() - start
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_workers(procs: Processes, queue: str, count: int, first: int = 0) -> list[str]:
    """`celery -A lfr_portal worker -Q <queue> -c 1` × count, numbered from `first`; returns their node names once
    they answer a ping.

    Matching workers run as docs/operations.md advises for workers that consume the matching queue alone, without
    Redis ack emulation (`LFR_BROKER_ACK_EMULATION=0`); enrolment workers keep it."""
    from lfr_portal.celery import app

    names = []
    numbers = range(first, first + count)
    for i in numbers:
        node = f"bench-{queue}-{i}-{uuid.uuid4().hex[:6]}@{socket.gethostname()}"
        procs.start(
            f"worker-{queue}-{i}",
            [sys.executable, "-m", "celery", "-A", "lfr_portal", "worker", "-Q", queue, "-c", "1",
             "--hostname", node, "--loglevel", "WARNING", "--without-gossip", "--without-mingle"],
            env={"LFR_BROKER_ACK_EMULATION": "0"} if queue == "matching" else None,
        )  # fmt: skip
        names.append(node)

    def all_up() -> bool:
        for i in numbers:
            proc = procs.procs.get(f"worker-{queue}-{i}")
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"worker exited: {procs.log_tail(f'worker-{queue}-{i}')}")
        replies = app.control.ping(destination=names, timeout=0.5) or []
        return len(replies) >= count

    wait_until(all_up, 90, f"{count} {queue} worker(s) to start", interval=0.5)
    return names


# --- seeding -------------------------------------------------------------------------------------------------


class Cast:
    def __init__(self) -> None:
        from compliance.choices import Rank, Role
        from compliance.services import accounts

        self.n = 0
        today = datetime.date.today()

        def user(role: str, rank: int) -> Any:
            self.n += 1
            return accounts.user_create(
                actor=None,
                username=f"bench-{role}-{self.n}",
                password=uuid.uuid4().hex + "Aa1!",
                role=role,
                rank=rank,
                first_name="Bench",
                last_name=role.replace("_", " ").title(),
                skip_password_validation=True,
            )

        self.admin = user(Role.ADMINISTRATOR, Rank.STAFF)
        self.applicant = user(Role.APPLICANT, Rank.INSPECTOR)
        self.ao = user(Role.AUTHORISING_OFFICER, Rank.SUPERINTENDENT)
        self.approver = user(Role.AUTHORISING_OFFICER, Rank.SUPERINTENDENT)
        self.compiler = user(Role.WATCHLIST_COMPILER, Rank.SERGEANT)
        self.operator = user(Role.LFR_OPERATOR, Rank.CONSTABLE)
        self.engagement = user(Role.ENGAGEMENT_OFFICER, Rank.CONSTABLE)
        for officer in (self.operator, self.engagement):
            accounts.training_record_add(
                actor=self.admin,
                user=officer,
                completed_on=today - datetime.timedelta(days=30),
                expires_on=today + datetime.timedelta(days=300),
            )


def deployment_fields(threshold: float) -> dict[str, Any]:
    from django.utils import timezone

    from compliance.choices import OffenceType, UseCase, WatchlistCategory

    return {
        "title": "Benchmark deployment (make bench)",
        "use_case": UseCase.CRIME_HOTSPOT,
        "objectives": "Measure the live matching pipeline on this machine.",
        "offence_types": [OffenceType.KNIFE_CRIME],
        "location_name": "Benchmark",
        "location_address": "Loopback only",
        "latitude": 51.5,
        "longitude": -0.12,
        "zone_of_recognition": "Frames of a public sample clip",
        "location_grounds": "Benchmark of the software; no public space is involved.",
        "necessity": "Performance figures for the operations documentation.",
        "proportionality": "Public sample photos only; everything is dropped after the run.",
        "alternatives_considered": "None: this is a benchmark.",
        "watchlist_categories": [WatchlistCategory.WANTED_BY_COURTS],
        "watchlist_max_size": 50,
        "match_threshold": threshold,
        "dpia_reference": "BENCH",
        "dpia_version": "1",
        "eia_reference": "BENCH",
        "apd_reference": "BENCH",
        "public_notice_at": timezone.now() - datetime.timedelta(days=2),
        "public_notice_where": "Not applicable (benchmark)",
        "public_notice_text": "Benchmark run on public sample photos.",
        "standalone_attested": True,
    }


def authorised_deployment(cast: Cast, camera: Any, threshold: float) -> Any:
    from django.utils import timezone

    from compliance.models import Deployment
    from compliance.services import deployments as svc

    now = timezone.now()
    deployment = svc.deployment_create(
        actor=cast.applicant,
        windows=[(now - datetime.timedelta(minutes=30), now + datetime.timedelta(hours=6))],
        camera_unit_ids=[camera.pk],
        **deployment_fields(threshold),
    )
    deployment = svc.deployment_submit(actor=cast.applicant, deployment=deployment)
    svc.deployment_authorise(
        actor=cast.ao,
        deployment=deployment,
        rationale="Benchmark run.",
        expires_at=now + datetime.timedelta(days=7),
    )
    return Deployment.objects.get(pk=deployment.pk)


def enrolment_metadata() -> dict[str, Any]:
    from compliance.choices import WatchlistCategory

    return {
        "category": WatchlistCategory.WANTED_BY_COURTS,
        "offence_or_reason": "Benchmark entry (public sample photo)",
        "justification": "Benchmark of the enrolment and matching pipeline.",
        "legal_basis": "Benchmark: public sample photo",
        "source": "custody",
        "captured_on": datetime.date.today() - datetime.timedelta(days=100),
        "sensitive_or_third_party": False,
    }


def seed_live(cast: Cast) -> dict[str, Any]:
    """Authorised deployment with signage, team, an approved one-person watch-list and a live session."""
    from django.conf import settings
    from django.utils import timezone

    from compliance.services import deployments as svc
    from compliance.services import watchlists as wsvc
    from matching.services import cameras as csvc
    from matching.services import sessions as ssvc

    now = timezone.now()
    camera = csvc.camera_unit_register(actor=cast.admin, identifier=f"bench-cam-{uuid.uuid4().hex[:6]}", force="Bench")
    secret = csvc.camera_token_issue(actor=cast.admin, camera_unit=camera).secret
    threshold = float(settings.LFR_POLICY_THRESHOLD)
    deployment = authorised_deployment(cast, camera, threshold)
    svc.deployment_set_assigned_officers(
        actor=cast.applicant, deployment=deployment, officer_ids=[cast.operator.pk, cast.engagement.pk]
    )
    svc.signage_record_add(
        actor=cast.applicant,
        deployment=deployment,
        position_description="Benchmark: no street",
        sign_count=1,
        placed_at=now - datetime.timedelta(minutes=20),
    )
    # The watch-list entry is enrolled inline here (its worker path is measured separately in section 5).
    dispatch = wsvc._dispatch
    wsvc._dispatch = lambda batch_id: None
    try:
        batch = wsvc.enrolment_batch_create(
            actor=cast.compiler,
            deployment=deployment,
            files=[(WATCHED, (faces_dir() / WATCHED).read_bytes())],
            **enrolment_metadata(),
        )
        wsvc.enrolment_batch_process(batch_id=batch.pk)
    finally:
        wsvc._dispatch = dispatch
    wsvc.watchlist_approve(
        actor=cast.approver,
        deployment=deployment,
        acknowledgement="Benchmark run: approved without a calibration on public sample photos.",
    )
    session = ssvc.session_start(actor=cast.operator, deployment=deployment, camera_unit=camera)
    return {"deployment": deployment, "camera": camera, "secret": secret, "session": session, "threshold": threshold}


# --- frames and the raw loop ---------------------------------------------------------------------------------


def clip_frames(every: int = FRAME_EVERY, limit: int = 60) -> list[bytes]:
    """Every Nth frame of the shared clip, resized to 640×480, as JPEG (quality 90): what a camera would send."""
    import cv2

    capture = cv2.VideoCapture(str(faces_dir() / "short_hamilton_clip.mp4"))
    frames: list[bytes] = []
    index = 0
    try:
        while len(frames) < limit and index < 10_000:
            ok, frame = capture.read()
            if not ok:
                break
            if index % every == 0:
                resized = cv2.resize(frame, FRAME_SIZE, interpolation=cv2.INTER_AREA)
                ok, encoded = cv2.imencode(".jpg", resized, [int(cv2.IMWRITE_JPEG_QUALITY), 90])
                if ok:
                    frames.append(encoded.tobytes())
            index += 1
    finally:
        capture.release()
    return frames


def raw_library() -> Any:
    from matching import engine

    return engine._face_recognition()  # the library itself, with PIL's global flag restored


def raw_known(fr: Any) -> list[Any]:
    image = fr.load_image_file(str(faces_dir() / WATCHED))
    boxes = fr.face_locations(image, number_of_times_to_upsample=0, model="hog")
    return fr.face_encodings(image, known_face_locations=boxes, num_jitters=1, model="large")[:1]


def raw_frame(fr: Any, known: list[Any], data: bytes, threshold: float) -> tuple[int, int]:
    """The plain loop's work for one frame: decode, face_locations, face_encodings, compare_faces."""
    image = fr.load_image_file(io.BytesIO(data))
    boxes = fr.face_locations(image, number_of_times_to_upsample=0, model="hog")
    encodings = fr.face_encodings(image, known_face_locations=boxes, num_jitters=1, model="large")
    matches = sum(any(fr.compare_faces(known, enc, tolerance=threshold)) for enc in encodings)
    return len(encodings), matches


class RawLoop:
    """The plain loop in this process, ready to run a pass at a time (models loaded, one frame warmed up)."""

    def __init__(self, frames: list[bytes], threshold: float) -> None:
        self.frames, self.threshold = frames, threshold
        self.fr = raw_library()
        self.known = raw_known(self.fr)
        raw_frame(self.fr, self.known, frames[0], threshold)  # warm-up
        self.per_frame: list[float] = []
        self.faces = self.matches = 0

    def one_pass(self) -> float:
        """Frames per second over the whole clip."""
        t0 = time.perf_counter()
        self.faces = self.matches = 0
        for data in self.frames:
            f0 = time.perf_counter()
            n, m = raw_frame(self.fr, self.known, data, self.threshold)
            self.per_frame.append(time.perf_counter() - f0)
            self.faces += n
            self.matches += m
        return len(self.frames) / (time.perf_counter() - t0)


def raw_child(frames_dir: str, threshold: float) -> int:
    """`--raw-child`: one process of the two-process raw loop; waits for "go" on stdin, prints its seconds."""
    frames = [p.read_bytes() for p in sorted(Path(frames_dir).glob("*.jpg"))]
    fr = raw_library()
    known = raw_known(fr)
    raw_frame(fr, known, frames[0], threshold)
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return 1
    t0 = time.perf_counter()
    for data in frames:
        raw_frame(fr, known, data, threshold)
    print(f"{time.perf_counter() - t0:.6f}", flush=True)
    return 0


def raw_two_processes(folder: Path, count: int, threshold: float) -> float:
    """Two plain loops at once (one per core), each over the `count` frames in `folder`: frames per second."""
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.pipeline", "--raw-child", str(folder), "--threshold", str(threshold)],
            cwd=REPO_ROOT,
            env=bench_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for child in children:
            if child.stdout.readline().strip() != "ready":  # type: ignore[union-attr]
                raise RuntimeError("a raw-loop child failed to start")
        t0 = time.perf_counter()
        for child in children:
            child.stdin.write("go\n")  # type: ignore[union-attr]
            child.stdin.flush()  # type: ignore[union-attr]
        for child in children:
            child.communicate(timeout=300)
        return 2 * count / (time.perf_counter() - t0)
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait(timeout=10)


def percentiles(samples_s: list[float]) -> dict[str, Any]:
    if not samples_s:
        return {"n": 0}
    ordered = sorted(samples_s)

    def pct(p: float) -> float:
        # nearest-rank percentile
        k = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
        return ordered[k] * 1000

    return {
        "n": len(ordered),
        "p50": pct(50),
        "p95": pct(95),
        "p99": pct(99),
        "max": ordered[-1] * 1000,
        "mean": statistics.fmean(ordered) * 1000,
    }


# --- the API client ------------------------------------------------------------------------------------------


class Camera:
    """A camera unit posting frames to the real API over HTTP (keep-alive)."""

    def __init__(self, port: int, session_id: int, secret: str) -> None:
        import http.client

        class Connection(http.client.HTTPConnection):
            # A camera sends each frame at once: without TCP_NODELAY, http.client's separate header and body
            # writes can meet the server's delayed ACK, a stall that would be the client's doing (set on every
            # (re)connect).
            def connect(self) -> None:
                super().connect()
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        self.conn = Connection("127.0.0.1", port, timeout=30)
        from django.urls import reverse

        self.path = reverse("session-frames", kwargs={"pk": session_id})
        self.secret = secret
        self.refused: dict[int, int] = {}
        self.first_refusal = ""
        self.post_s: list[float] = []

    def submit(self, data: bytes) -> str | None:
        from django.utils import timezone

        boundary = uuid.uuid4().hex
        captured = timezone.now().isoformat()
        body = b"".join(
            [
                f'--{boundary}\r\nContent-Disposition: form-data; name="captured_at"\r\n\r\n{captured}\r\n'.encode(),
                f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="frame.jpg"\r\n'.encode(),
                b"Content-Type: image/jpeg\r\n\r\n",
                data,
                f"\r\n--{boundary}--\r\n".encode(),
            ]
        )
        headers = {
            "Authorization": f"Camera {self.secret}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(len(body)),
            "Host": "127.0.0.1",
        }
        t0 = time.perf_counter()
        try:
            response, payload = self._post(body, headers)
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            # The server closes a connection left idle past its keep-alive (gunicorn.conf.py), as between two
            # trials: as any HTTP/1.1 client does, open a new one and send the frame again.
            self.conn.close()
            t0 = time.perf_counter()
            response, payload = self._post(body, headers)
        self.post_s.append(time.perf_counter() - t0)
        if response.status != 202:
            self.refused[response.status] = self.refused.get(response.status, 0) + 1
            if not self.first_refusal:
                self.first_refusal = f"{response.status} {payload[:300].decode(errors='replace')}"
                sys.stderr.write(f"[bench] frame refused: {self.first_refusal}\n")
            return None
        return json.loads(payload)["frame_id"]

    def _post(self, body: bytes, headers: dict[str, str]) -> tuple[Any, bytes]:
        self.conn.request("POST", self.path, body=body, headers=headers)
        response = self.conn.getresponse()
        return response, response.read()

    def close(self) -> None:
        self.conn.close()


def start_api(procs: Processes) -> int:
    import http.client

    port = free_port()
    # The web server of the Procfile, with its settings: two processes of two threads, keeping connections alive.
    gunicorn = [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "lfr_portal.wsgi",
                "--bind", f"127.0.0.1:{port}", "--workers", "2"]  # fmt: skip
    procs.start("api", gunicorn)

    def up() -> bool:
        if procs.procs["api"].poll() is not None:
            raise RuntimeError(f"the API server exited: {procs.log_tail('api')}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            conn.close()
            return True
        except OSError:
            return False

    wait_until(up, 60, "the API server", interval=0.3)
    return port


# --- measurements through the pipeline ----------------------------------------------------------------------


def counters(session_id: int) -> dict[str, int]:
    """The session's counters. Polled every 20 ms while a clip drains, so it is one small statement: the
    observer's own cost would otherwise come out of the cores it measures."""
    from django.db import connection

    from matching.models import MatchingSession

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT frames_accepted, frames_processed,"
            " dropped_stale + dropped_purged + dropped_gates + dropped_undecodable,"
            f" faces_seen, alerts_raised, sightings FROM {MatchingSession._meta.db_table} WHERE id = %s",
            [session_id],
        )
        accepted, processed, dropped, faces, alerts, sightings = cursor.fetchone()
    return {
        "accepted": accepted,
        "processed": processed,
        "dropped": dropped,
        "faces": faces,
        "alerts": alerts,
        "sightings": sightings,
    }


def warm_up(camera: Camera, session_id: int, frames: list[bytes], count: int) -> None:
    """Each worker's first task loads the models (about 1–2 s): keep that out of the measurements."""
    before = counters(session_id)
    for data in frames[:count]:
        camera.submit(data)
    wait_until(
        lambda: (lambda c: c["processed"] + c["dropped"] >= c["accepted"])(counters(session_id)),
        120,
        "the warm-up frames",
        interval=0.1,
    )
    if counters(session_id)["processed"] <= before["processed"]:
        raise RuntimeError(f"the warm-up frames were not processed (API: {camera.first_refusal or 'accepted'})")


POLL_S = 0.02
POLL_NEAR_END_S = 0.3


def poll_sleep(left_s: float, frame_s: float = 0.0) -> float:
    """How long the drain poller sleeps when the rate so far says `left_s` seconds of work are left, at `frame_s`
    seconds per frame: half of what is left beyond one frame and the last POLL_NEAR_END_S, at most 1 s, and POLL_S
    over that last stretch. One frame comes off because the count only moves when a frame is done: with one frame
    to go, it may be about to finish.

    Half of *all* that is left (what the bench did until 2026-11-29 11:00) slept 90 ms with one frame of 180 ms to
    go, so the end of a trial was seen 50–70 ms late on average: a bias against the pipeline of about 0.7 % of a
    55-frame trial, where the raw loop times itself exactly."""
    return min(1.0, max(POLL_S, (left_s - frame_s - POLL_NEAR_END_S) / 2))


def wait_for_count(session_id: int, target: int, since: float, start_count: int, timeout: float) -> None:
    """Wait until the session has processed or dropped `target` frames, and return within about 20 ms of it.

    Polling every 20 ms throughout cost the cores being measured about 9 ms of CPU per frame on a 2-core box (the
    bench's own Python and the PostgreSQL backend answering it), while the workers were draining the clip. So the
    poller sleeps for half the time the drain rate so far says is left, and polls every 20 ms only near the end:
    a few dozen polls per trial instead of hundreds, and the same 20 ms resolution at the end (`poll_sleep`).
    """
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        c = counters(session_id)
        done = c["processed"] + c["dropped"]
        if done >= target:
            return
        now = time.perf_counter()
        rate = (done - start_count) / (now - since) if done > start_count else 0.0
        # Until a frame is done there is no rate: look every 100 ms.
        pause = poll_sleep((target - done) / rate, 1 / rate) if rate > 0 else 0.1
        time.sleep(min(pause, max(0.0, deadline - now)))
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for the workers to drain the clip")


def throughput_trial(camera: Camera, session_id: int, frames: list[bytes]) -> dict[str, Any]:
    """Submit the clip as fast as the API takes it; fps = frames processed / (last processed − first submitted)."""
    before = counters(session_id)
    t0 = time.perf_counter()
    accepted = sum(camera.submit(data) is not None for data in frames)
    submit_s = time.perf_counter() - t0
    target = before["processed"] + before["dropped"] + accepted
    wait_for_count(session_id, target, t0, before["processed"] + before["dropped"], 300)
    elapsed = time.perf_counter() - t0
    after = counters(session_id)
    processed = after["processed"] - before["processed"]
    return {
        "fps": processed / elapsed,
        "accepted": accepted,
        "processed": processed,
        "dropped": after["dropped"] - before["dropped"],
        "faces": after["faces"] - before["faces"],
        "alerts": (after["alerts"] - before["alerts"]) + (after["sightings"] - before["sightings"]),
        "submit_s": submit_s,
        "elapsed_s": elapsed,
    }


def cpu_seconds_by_process() -> dict[int, tuple[str, float]]:
    """{pid: (role, CPU seconds so far)} for the processes the pipeline runs on, read from /proc (empty off Linux):
    the matching worker's pool process and its parent, the API server, PostgreSQL, Redis, and this process (the
    camera client and the counters poller). Other processes on the machine are left out."""
    clock = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    procs: dict[int, tuple[int, str, float]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        procs[int(entry.name)] = (int(fields[1]), cmdline, (int(fields[11]) + int(fields[12])) / clock)
    found: dict[int, tuple[str, float]] = {}
    for pid, (ppid, cmdline, seconds) in procs.items():
        parent = procs.get(ppid, (0, "", 0.0))[1]
        if pid == os.getpid():
            role = "bench client"
        elif "celery" in cmdline and "worker" in cmdline:
            role = "worker pool" if "celery" in parent else "worker parent"
        elif "gunicorn" in cmdline:
            role = "API (gunicorn)"
        elif cmdline.startswith("postgres") or "/postgres" in cmdline.split(" ")[0]:
            role = "PostgreSQL"
        elif "redis-server" in cmdline:
            role = "Redis"
        else:
            continue
        found[pid] = (role, seconds)
    return found


ROUND_BUDGET_S = 600  # sections 1–2: at least two rounds, and no new round after this many seconds
# Each round's ratio moved by ±10–25 % on the Xeon of 2026-11-29 with the host's speed; a median of ten is steadier.
DEFAULT_ROUNDS = 10


def measured_trial(camera: Camera, session_id: int, frames: list[bytes], cpu: dict[str, float]) -> dict[str, Any]:
    """One throughput trial; adds each role's CPU seconds (and the frames, under "frames") to `cpu`."""
    before = cpu_seconds_by_process()
    trial = throughput_trial(camera, session_id, frames)
    for pid, (role, seconds) in cpu_seconds_by_process().items():
        cpu[role] = cpu.get(role, 0.0) + seconds - before.get(pid, (role, 0.0))[1]
    cpu["frames"] = cpu.get("frames", 0.0) + trial["processed"]
    return trial


def paired_rounds(
    procs: Processes, camera: Camera, session_id: int, frames: list[bytes], threshold: float, rounds: int
) -> dict[str, Any]:
    """Sections 1 and 2, interleaved. Each round runs four trials back to back: the raw loop and the pipeline with
    one worker, then (a second worker started and warmed up) the pipeline with two and two raw loops at once; every
    other round runs them in the reverse order (A B C D, D C B A, ...), so a steady drift cancels too. Each ratio is
    taken within a round, and the figures are the medians of those per-round ratios. The trials with two workers
    and with two raw loops both run the clip twice over (each raw loop runs it once).

    A shared host's speed drifts by 10–20 % within a minute (the raw loop alone went from 120 to 102 ms per frame on
    the Xeon of 2026-11-29): measuring every raw trial first and the pipeline minutes later let that drift pass for
    the pipeline's overhead, or for its scaling. Leaves the second worker running.
    """
    raw = RawLoop(frames, threshold)
    folder = WORK / "frames"
    folder.mkdir(parents=True, exist_ok=True)
    for i, data in enumerate(frames):
        (folder / f"{i:04d}.jpg").write_bytes(data)
    fps: dict[str, list[float]] = {"raw_1": [], "pipe_1": [], "pipe_2": [], "raw_2": []}
    runs: dict[str, list[dict[str, Any]]] = {"pipe_1": [], "pipe_2": []}
    cpu: dict[str, dict[str, float]] = {"pipe_1": {}, "pipe_2": {}}

    def second_worker(running: bool) -> None:
        if running and "worker-matching-1" not in procs.procs:
            start_workers(procs, "matching", 1, first=1)
            warm_up(camera, session_id, frames, 4)
        elif not running:
            procs.stop("worker-matching-1")

    # The four trials of a round; each one first puts the second worker in the state it needs.
    def raw_one() -> None:
        second_worker(False)
        fps["raw_1"].append(raw.one_pass())

    def pipe_one() -> None:
        second_worker(False)
        runs["pipe_1"].append(measured_trial(camera, session_id, frames, cpu["pipe_1"]))

    def pipe_two() -> None:
        second_worker(True)
        # The clip twice: the same 110 frames that the two raw loops run between them. With the clip once, the
        # odd last frame and the drain kept one worker idle for a larger share of a shorter trial (1.2 s with the
        # fast build), a cost the raw loops, each running the whole clip, never paid.
        runs["pipe_2"].append(measured_trial(camera, session_id, frames * 2, cpu["pipe_2"]))

    def raw_two() -> None:
        second_worker(True)
        fps["raw_2"].append(raw_two_processes(folder, len(frames), threshold))

    trials = (raw_one, pipe_one, pipe_two, raw_two)
    start = time.perf_counter()
    error = None
    try:
        start_workers(procs, "matching", 1)
        warm_up(camera, session_id, frames, 2)
        for r in range(rounds):
            for trial in trials if r % 2 == 0 else reversed(trials):
                trial()
            if r % 2 == 1 and time.perf_counter() - start > ROUND_BUDGET_S:  # stop on a balanced pair of rounds
                break
        second_worker(True)
    except Exception as exc:  # noqa: BLE001 - keep the rounds that finished; without one, there is nothing to report
        if not all(runs.values()) or not fps["raw_1"] or not fps["raw_2"]:
            raise
        error = f"{exc.__class__.__name__}: {exc}"
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    for key in runs:
        fps[key] = [run["fps"] for run in runs[key]]
    # Only rounds with all four trials (a failure can cut the last one short), and none with a zero to divide by.
    done = min(len(v) for v in fps.values())
    pairs = [p for p in zip(*(fps[k][:done] for k in ("raw_1", "pipe_1", "pipe_2", "raw_2")), strict=True) if all(p)]
    if not pairs:
        raise RuntimeError(f"no complete round of sections 1–2 ({error or 'a trial processed no frame'})")

    def per_frame_ms(seconds: dict[str, float]) -> dict[str, float]:
        frames_done = max(1.0, seconds.pop("frames", 0.0))
        return {role: round(s / frames_done * 1000, 1) for role, s in seconds.items()}

    result = {
        "raw_1": {"fps": Stats.of(fps["raw_1"]).to_dict(), "frame_ms": percentiles(raw.per_frame),
                  "faces": raw.faces, "matches": raw.matches},
        "raw_2": {"fps": Stats.of(fps["raw_2"]).to_dict()},
        "pipe_1": {"fps": Stats.of(fps["pipe_1"]).to_dict(), "runs": runs["pipe_1"],
                   "cpu_ms_per_frame": per_frame_ms(cpu["pipe_1"])},
        "pipe_2": {"fps": Stats.of(fps["pipe_2"]).to_dict(), "runs": runs["pipe_2"],
                   "cpu_ms_per_frame": per_frame_ms(cpu["pipe_2"])},
        # Per round: one worker ÷ the raw loop, two workers ÷ two raw loops, two workers ÷ one, and the same for
        # the raw loops.
        "paired": {
            "rounds": len(pairs),
            "ratio_1": Stats.of([p1 / r1 for r1, p1, _, _ in pairs]).to_dict(),
            "ratio_2": Stats.of([p2 / r2 for _, _, p2, r2 in pairs]).to_dict(),
            "scaling": Stats.of([p2 / p1 for _, p1, p2, _ in pairs]).to_dict(),
            "raw_scaling": Stats.of([r2 / r1 for r1, _, _, r2 in pairs]).to_dict(),
        },
    }  # fmt: skip
    if error:
        result["paired"]["error"] = f"stopped after {len(pairs)} round(s): {error}"
    return result


def latency_trial(camera: Camera, session_id: int, frames: list[bytes], rate: float, seconds: float) -> dict[str, Any]:
    """Submit at a steady `rate` for `seconds`; latency = alert row first visible − frame submission started."""
    from django.db import connection

    from matching.models import Alert

    submitted: dict[str, float] = {}
    seen: dict[str, float] = {}
    stop = threading.Event()
    known_ids: set[str] = set(Alert.objects.filter(session_id=session_id).values_list("source_frame_id", flat=True))

    def poll() -> None:
        try:
            deadline = time.perf_counter() + seconds + 120
            while not stop.is_set() and time.perf_counter() < deadline:
                ids = Alert.objects.filter(session_id=session_id).values_list("source_frame_id", flat=True)
                now = time.perf_counter()
                for frame_id in ids:
                    if frame_id not in known_ids and frame_id not in seen:
                        seen[frame_id] = now
                time.sleep(0.01)
        finally:
            connection.close()

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    before = counters(session_id)
    try:
        t0 = time.perf_counter()
        k = 0
        while True:
            due = t0 + k / rate
            if due - t0 > seconds:
                break
            time.sleep(max(0.0, due - time.perf_counter()))
            start = time.perf_counter()
            frame_id = camera.submit(frames[k % len(frames)])
            if frame_id:
                submitted[frame_id] = start
            k += 1
        target = before["processed"] + before["dropped"] + len(submitted)
        wait_until(
            lambda: (lambda c: c["processed"] + c["dropped"] >= target)(counters(session_id)),
            180,
            "the latency run to settle",
            interval=0.05,
        )
        time.sleep(0.3)  # the poller's last look
    finally:
        stop.set()
        poller.join(10)
    after = counters(session_id)
    latencies = [seen[f] - submitted[f] for f in submitted if f in seen]
    return {
        "rate_fps": rate,
        "seconds": seconds,
        "submitted": len(submitted),
        "processed": after["processed"] - before["processed"],
        "dropped": after["dropped"] - before["dropped"],
        "alert_rows": len(latencies),
        "sightings_merged": after["sightings"] - before["sightings"],
        "latency_ms": percentiles(latencies),
    }


def task_body_in_process(live: dict[str, Any], frames: list[bytes], trials: int) -> dict[str, Any]:
    """Diagnostic: the frame service and the worker's task body called in this process (no HTTP, no broker),
    alternating with the raw loop's work on the same frames, to split the pipeline's overhead into the worker's
    own (gates, gallery, alert rows, audit) and the transport's (API server, Redis, Celery)."""
    from django.utils import timezone

    from matching.principals import CameraPrincipal
    from matching.services import frames as frame_services

    camera = live["camera"]
    principal = CameraPrincipal(camera_unit_id=camera.pk, identifier=camera.identifier, token_id=0)
    session_id = live["session"].pk
    fr = raw_library()
    known = raw_known(fr)
    service_s: list[float] = []
    body_s: list[float] = []
    raw_s: list[float] = []
    by_outcome: dict[str, dict[str, list[float]]] = {}  # "alert" frames also write the alert row and its audit
    start = time.perf_counter()
    for i in range(trials + 1):
        for data in frames if i else frames[:3]:  # pass 0 is a short warm-up
            t0 = time.perf_counter()
            accepted = frame_services.frame_submit(
                actor=principal, session_id=session_id, data=data, captured_at=timezone.now(), enqueue=False
            )
            t1 = time.perf_counter()
            outcome = frame_services.frame_process(
                session_id=session_id, frame_id=accepted.frame_id, captured_at=timezone.now()
            )
            t2 = time.perf_counter()
            raw_frame(fr, known, data, live["threshold"])
            t3 = time.perf_counter()
            if i:  # the first pass warms up
                service_s.append(t1 - t0)
                body_s.append(t2 - t1)
                raw_s.append(t3 - t2)
                split = by_outcome.setdefault(outcome, {"body": [], "raw": []})
                split["body"].append(t2 - t1)
                split["raw"].append(t3 - t2)
        if i >= 2 and time.perf_counter() - start > 150:
            break
    return {
        "submit_service_ms": statistics.fmean(service_s) * 1000,
        "task_body_ms": statistics.fmean(body_s) * 1000,
        "raw_ms": statistics.fmean(raw_s) * 1000,
        "frames": len(raw_s),
        "by_outcome": {
            outcome: {
                "frames": len(split["body"]),
                "task_body_ms": statistics.fmean(split["body"]) * 1000,
                "raw_ms": statistics.fmean(split["raw"]) * 1000,
            }
            for outcome, split in sorted(by_outcome.items())
        },
    }


# --- section 5 through the enrolment workers -----------------------------------------------------------------


def enrolment_through_workers(cast: Cast, procs: Processes, workers: int, trials: int) -> dict[str, Any]:
    """Images per second from upload (batch created) to every image having its verdict, `workers` workers."""
    from compliance.models import EnrolmentBatch
    from compliance.models.watchlists import BatchStatus
    from compliance.services import watchlists as wsvc
    from matching.services import cameras as csvc

    photos = [(p.name, p.read_bytes()) for p in enrolment_photos()]
    names = start_workers(procs, "enrolment", workers)
    try:
        results = []
        start = time.perf_counter()
        for trial in range(trials + 1):  # the first is a warm-up (each worker loads the models once)
            camera = csvc.camera_unit_register(
                actor=cast.admin, identifier=f"bench-enrol-{uuid.uuid4().hex[:6]}", force="Bench"
            )
            deployment = authorised_deployment(cast, camera, 0.6)
            # One batch per worker (a batch is one task, processed image by image).
            shares = [photos[i::workers] for i in range(workers)]
            t0 = time.perf_counter()
            batch_ids = [
                wsvc.enrolment_batch_create(
                    actor=cast.compiler, deployment=deployment, files=share, **enrolment_metadata()
                ).pk
                for share in shares
            ]

            def finished(batch_ids: list[int] = batch_ids) -> bool:
                statuses = EnrolmentBatch.objects.filter(pk__in=batch_ids).values_list("status", flat=True)
                return all(s in (BatchStatus.DONE, BatchStatus.REFUSED) for s in statuses)

            wait_until(finished, 300, "the enrolment batches", interval=0.05)
            elapsed = time.perf_counter() - t0
            if trial == 0:
                continue
            from compliance.models import EnrolmentItem

            verdicts: dict[str, int] = {}
            for status in EnrolmentItem.objects.filter(batch_id__in=batch_ids).values_list("status", flat=True):
                verdicts[status] = verdicts.get(status, 0) + 1
            results.append({"ips": len(photos) / elapsed, "seconds": elapsed, "verdicts": verdicts})
            if len(results) >= 2 and time.perf_counter() - start > 120:
                break
        return {"workers": workers, "images": len(photos), "ips": Stats.of([r["ips"] for r in results]).to_dict(),
                "runs": results, "nodes": names}  # fmt: skip
    finally:
        for i in range(workers):
            procs.stop(f"worker-enrolment-{i}")


def raw_enrolment(trials: int) -> dict[str, Any]:
    """The plain loop of section 5, measured in this process just before the workers run."""
    from bench.micro import CONFIG

    fr = raw_library()
    photos = enrolment_photos()

    def one_pass() -> float:
        t0 = time.perf_counter()
        for path in photos:
            image = fr.load_image_file(str(path))
            boxes = fr.face_locations(image, number_of_times_to_upsample=CONFIG.upsample, model=CONFIG.detector)
            fr.face_encodings(image, known_face_locations=boxes, num_jitters=1, model=CONFIG.encoding_model)
        return len(photos) / (time.perf_counter() - t0)

    one_pass()
    return {"ips": Stats.of([one_pass() for _ in range(trials)]).to_dict()}


# --- the whole run -------------------------------------------------------------------------------------------


@contextlib.contextmanager
def bench_environment(keep_db: bool) -> Iterator[Processes]:
    procs = Processes()
    try:
        yield procs
    finally:
        procs.stop_all()
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        with contextlib.suppress(Exception):
            flush_redis()
        if not keep_db:
            with contextlib.suppress(Exception):
                drop_database()
        shutil.rmtree(WORK / "media", ignore_errors=True)
        shutil.rmtree(WORK / "var", ignore_errors=True)
        shutil.rmtree(WORK / "frames", ignore_errors=True)


def run(
    *, quick: bool, keep_db: bool, log: Callable[[str], None], parts: set[str] | None = None, rounds: int = 0
) -> dict[str, Any]:
    parts = parts or {"enrol", "pipe"}
    result: dict[str, Any] = {}
    reason = preflight()
    if reason:
        return {"error": reason}
    os.environ.update(bench_env())
    trials = 2 if quick else 3
    with bench_environment(keep_db) as procs:
        try:
            log("pipeline: creating database lfr_bench and migrating")
            flush_redis()
            recreate_database()
            reason = django_setup()
            if reason:
                return {"error": reason}
            from django.core.management import call_command

            t0 = time.perf_counter()
            call_command("migrate", interactive=False, verbosity=0)
            result["migrate_s"] = round(time.perf_counter() - t0, 1)
            cast = Cast()
            live = seed_live(cast)
            session_id = live["session"].pk
            threshold = live["threshold"]
            frames = clip_frames()
            result["frames"] = {"count": len(frames), "every": FRAME_EVERY, "size": list(FRAME_SIZE)}
            result["threshold"] = threshold

            log("pipeline: section 5 through the enrolment workers")
            try:
                if "enrol" not in parts:
                    raise RuntimeError("skipped")
                result["enrol_raw"] = raw_enrolment(trials)
                result["enrol_workers_1"] = enrolment_through_workers(cast, procs, 1, trials)
                result["enrol_workers_2"] = enrolment_through_workers(cast, procs, 2, trials)
            except Exception as exc:  # noqa: BLE001 - report it and go on with sections 1–3
                result["enrol_error"] = f"{exc.__class__.__name__}: {exc}"

            if "pipe" not in parts:
                return result

            log("pipeline: the worker's task body in-process (diagnostic)")
            result["in_process"] = task_body_in_process(live, frames, 1 if quick else 2)

            log("pipeline: the raw loop, one worker, two workers and two raw loops, in rounds")
            port = start_api(procs)
            camera = Camera(port, session_id, live["secret"])
            try:
                rounds = rounds or (2 if quick else DEFAULT_ROUNDS)
                result.update(paired_rounds(procs, camera, session_id, frames, threshold, rounds))
                if result["paired"].get("error"):  # the second worker's state is unknown: no latency trials
                    raise RuntimeError(f"sections 1–2 {result['paired']['error']}")
                fps2 = result["pipe_2"]["fps"]["median"]
                rate2 = round(max(0.5, 0.6 * fps2), 2)
                log(f"pipeline: alert latency with two workers at {rate2} frames/s (0.6 × their throughput)")
                result["latency_2"] = latency_trial(camera, session_id, frames, rate2, 15 if quick else 40)
                procs.stop("worker-matching-1")
                fps1 = result["pipe_1"]["fps"]["median"]
                rate = round(max(0.5, 0.6 * fps1), 2)
                log(f"pipeline: alert latency with one worker at {rate} frames/s")
                result["latency_1"] = latency_trial(camera, session_id, frames, rate, 15 if quick else 40)
                result["refused"] = camera.refused
                result["api_post_ms"] = percentiles(camera.post_s)
            finally:
                camera.close()
                with contextlib.suppress(Exception):
                    from matching.models import MatchingSession
                    from matching.services import sessions as ssvc

                    ssvc.session_stop(actor=cast.operator, session=MatchingSession.objects.get(pk=session_id))
        except Exception as exc:  # noqa: BLE001 - partial results are still worth printing
            result["error"] = f"{exc.__class__.__name__}: {exc}"
            result["traceback"] = traceback.format_exc(limit=8)
            for name in list(procs.procs):
                result.setdefault("logs", {})[name] = procs.log_tail(name)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--rounds", type=int, default=0, help=f"rounds of sections 1–2 (default {DEFAULT_ROUNDS}, 2 with --quick)"
    )
    parser.add_argument("--keep-db", action="store_true", help="leave the lfr_bench database for inspection")
    parser.add_argument("--raw-child", help=argparse.SUPPRESS)
    parser.add_argument("--threshold", type=float, default=0.6, help=argparse.SUPPRESS)
    parser.add_argument("--parts", default="enrol,pipe", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.raw_child:
        return raw_child(args.raw_child, args.threshold)

    def log(message: str) -> None:
        sys.stderr.write(f"[bench] {message}\n")
        sys.stderr.flush()

    parts = set(args.parts.split(","))
    result = run(quick=args.quick, keep_db=args.keep_db, log=log, parts=parts, rounds=max(0, args.rounds))
    text = json.dumps(result, indent=1, default=str)
    if args.json:
        args.json.write_text(text)
    else:
        sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
