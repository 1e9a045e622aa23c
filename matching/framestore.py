"""Where in-flight frames wait for a worker: never the broker, never the database, never a disk.

A frame's bytes are held here between the API (or the stream command) accepting them and a worker taking them;
the Celery message carries only (session_id, frame_id, captured_at). Two backends:

- **Redis** (production, CI): one hash per session, `lfr:frames:{<session_id>}`, field = frame id, with a TTL a little
  over the live budget; `lfr:frametimes:{<session_id>}` records when each frame was put, and every put first drops
  the session's frames older than that TTL, so a frame nobody takes evaporates even while its session runs on;
  claims live in `lfr:claims:{<session_id>}`. The braces keep a session's keys in one cluster slot, so a worker
  claims and takes a frame in one script. Used when `LFR_FRAME_STORE_URL` (default: `CELERY_BROKER_URL`) is a
  redis:// URL.
- **tmpfs** (the embedded one-machine set-up): files under `/dev/shm/lfr-frames/<session_id>/`. /dev/shm is a RAM
  file system on Linux, so frames never reach a disk; without it the store refuses to start rather than silently
  writing biometric images to disk.

Stopping a session deletes the whole hash or folder (`purge`), so queued tasks find nothing and do nothing: the
retention rule "in-flight frames purged when a session stops" (domain.md 6) holds without touching the broker.
"""

from __future__ import annotations

import functools
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# The session id in braces is a Redis Cluster hash tag: both keys of a session live in one slot, so the scripts
# and transactions below that touch both work on a cluster too.
FRAMES_KEY = "lfr:frames:{{{session_id}}}"
CLAIMS_KEY = "lfr:claims:{{{session_id}}}"
# When each waiting frame was put (a sorted set, score = the Redis server's time): a hash has no expiry per field.
TIMES_KEY = "lfr:frametimes:{{{session_id}}}"
# The key names before 2026-11-29. A web process of that version, still running during an upgrade, stores frames
# under them; a stop or the sweep purges those too, so no frame outlives its session (domain.md 6). Remove after
# the next release.
LEGACY_KEYS = ("lfr:frames:{session_id}", "lfr:claims:{session_id}")
DEFAULT_SHM_ROOT = "/dev/shm/lfr-frames"

# Atomically: first drop the session's frames older than the TTL (a frame whose task was lost would otherwise wait
# until the session stops, and count against its queue), then refuse when the session already holds `limit`
# frames, else store the frame with its time and refresh both keys' TTL.
_PUT_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[4]))
for i = 1, #old do
  redis.call('HDEL', KEYS[1], old[i])
  redis.call('ZREM', KEYS[2], old[i])
end
local n = redis.call('HLEN', KEYS[1])
if n >= tonumber(ARGV[3]) then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4]))
return n + 1
"""
# HGETDEL only exists from Redis 8; this is the same atomic get-and-delete for older servers.
_TAKE_SCRIPT = """
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then redis.call('HDEL', KEYS[1], ARGV[1]) end
redis.call('ZREM', KEYS[2], ARGV[1])
return v
"""
# Claim a frame id (the first delivery only) and, if claimed, take its bytes: one round trip per frame.
_CLAIM_TAKE_SCRIPT = """
local ok = redis.call('HSETNX', KEYS[1], ARGV[1], '1')
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
if ok == 0 then return {0, false} end
local v = redis.call('HGET', KEYS[2], ARGV[1])
if v then redis.call('HDEL', KEYS[2], ARGV[1]) end
redis.call('ZREM', KEYS[3], ARGV[1])
return {1, v or false}
"""


class FrameStore(Protocol):
    def put(self, session_id: int, frame_id: str, data: bytes, *, limit: int) -> int | None:
        """Hold a frame; the session's new depth, or None when it already holds `limit` frames."""

    def take(self, session_id: int, frame_id: str) -> bytes | None:
        """Remove and return a frame (atomic: two workers never both get it); None if gone or purged."""

    def claim_take(self, session_id: int, frame_id: str) -> tuple[bool, bytes | None]:
        """Claim a frame id for processing and take its bytes: (False, None) on any redelivery; (True, None) when
        the first delivery finds the frame gone (purged or expired)."""

    def depth(self, session_id: int) -> int:
        """Frames held for the session (the backpressure measure)."""

    def purge(self, session_id: int) -> int:
        """Delete everything held for the session; the number of frames dropped."""

    def session_ids(self) -> set[int]:
        """Sessions that currently hold anything (for sweeping)."""

    def ping(self) -> None:
        """Raise when the store cannot be reached."""


def ttl_seconds() -> int:
    """How long an untaken frame may live: a little over the live budget, after which it is stale anyway."""
    return max(2, int(float(settings.LFR_LIVE_BUDGET_SECONDS) * 2) + 5)


class FrameStoreUnsafe(ImproperlyConfigured):
    """The store would let frames reach a disk: it takes none until that is put right."""


# How often a process re-reads the Redis server's persistence settings before it stores a frame.
VOLATILE_RECHECK_SECONDS = 60


class RedisFrameStore:
    """Per-session Redis hashes; every operation on one session's keys, which share a slot, so it works on a cluster
    and needs no locks.

    Frames must never reach a disk, and a stock Redis saves its data to one: RDB snapshots (`save`) and the
    append-only file (`appendonly`). Before it stores a frame, and again every VOLATILE_RECHECK_SECONDS, the store
    reads both settings and refuses (FrameStoreUnsafe) unless both are off and no replica is connected. Where
    CONFIG is not allowed (some managed services), or replicas are set up not to write to disk, setting
    `LFR_FRAME_STORE_VOLATILE_CONFIRMED=1` records that someone checked it by other means.
    """

    def __init__(self, url: str) -> None:
        import redis

        self.url = url
        self.client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._put = self.client.register_script(_PUT_SCRIPT)
        self._take = self.client.register_script(_TAKE_SCRIPT)
        self._claim_take = self.client.register_script(_CLAIM_TAKE_SCRIPT)
        self._volatile_at = float("-inf")

    def require_volatile(self) -> None:
        """Raise FrameStoreUnsafe unless the Redis server keeps nothing on disk (or that is confirmed by setting)."""
        import redis

        if settings.LFR_FRAME_STORE_VOLATILE_CONFIRMED:
            return
        try:
            config = {**self.client.config_get("save"), **self.client.config_get("appendonly")}
        except redis.ResponseError as exc:
            raise FrameStoreUnsafe(
                f"The frame store cannot read the Redis server's persistence settings ({exc}). Frames must never "
                'reach a disk: check that it has `save ""` and `appendonly no`, then set '
                "LFR_FRAME_STORE_VOLATILE_CONFIRMED=1."
            ) from exc
        saving = [
            f"{name} {value!r}"
            for name, value, off in (
                ("save", config.get("save", ""), ""),
                ("appendonly", config.get("appendonly"), "no"),
            )
            if value != off
        ]
        # A replica loads a full resync from a snapshot file unless its own repl-diskless-load says otherwise, and
        # this server cannot see a replica's settings.
        replicas = int(self.client.info("replication").get("connected_slaves", 0))
        if replicas:
            saving.append(f"{replicas} connected replica(s), which may write what they receive to disk")
        if saving:
            raise FrameStoreUnsafe(
                f"The Redis server of the frame store writes its data to disk ({', '.join(saving)}), and frames "
                'must never reach a disk. Set `save ""` and `appendonly no` on it, or give the frame store a '
                "Redis of its own with LFR_FRAME_STORE_URL (docs/operations.md)."
            )

    def _require_volatile_recently(self) -> None:
        now = time.monotonic()
        if now - self._volatile_at >= VOLATILE_RECHECK_SECONDS:
            self.require_volatile()
            self._volatile_at = now

    def put(self, session_id: int, frame_id: str, data: bytes, *, limit: int) -> int | None:
        self._require_volatile_recently()
        keys = [FRAMES_KEY.format(session_id=session_id), TIMES_KEY.format(session_id=session_id)]
        depth = int(self._put(keys=keys, args=[frame_id, data, limit, ttl_seconds()]))
        return None if depth < 0 else depth

    def take(self, session_id: int, frame_id: str) -> bytes | None:
        keys = [FRAMES_KEY.format(session_id=session_id), TIMES_KEY.format(session_id=session_id)]
        return self._take(keys=keys, args=[frame_id])

    def claim_take(self, session_id: int, frame_id: str) -> tuple[bool, bytes | None]:
        keys = [
            CLAIMS_KEY.format(session_id=session_id),
            FRAMES_KEY.format(session_id=session_id),
            TIMES_KEY.format(session_id=session_id),
        ]
        claimed, data = self._claim_take(keys=keys, args=[frame_id, ttl_seconds() * 4])
        return bool(claimed), data

    def depth(self, session_id: int) -> int:
        return int(self.client.hlen(FRAMES_KEY.format(session_id=session_id)))

    def purge(self, session_id: int) -> int:
        frames_key = FRAMES_KEY.format(session_id=session_id)
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hlen(frames_key)
            pipe.delete(frames_key, CLAIMS_KEY.format(session_id=session_id), TIMES_KEY.format(session_id=session_id))
            count, _deleted = pipe.execute()
        legacy_frames, legacy_claims = (key.format(session_id=session_id) for key in LEGACY_KEYS)
        with self.client.pipeline(transaction=False) as pipe:  # other slots: one key per command
            pipe.hlen(legacy_frames)
            pipe.delete(legacy_frames)
            pipe.delete(legacy_claims)
            legacy_count = pipe.execute()[0]
        return int(count) + int(legacy_count)

    def session_ids(self) -> set[int]:
        ids: set[int] = set()
        for pattern in ("lfr:frames:*", "lfr:claims:*", "lfr:frametimes:*"):
            for key in self.client.scan_iter(match=pattern, count=500):
                suffix = key.decode().rsplit(":", 1)[-1].strip("{}")
                if suffix.isdigit():
                    ids.add(int(suffix))
        return ids

    def ping(self) -> None:
        self.client.ping()
        self.require_volatile()


RAM_FILESYSTEMS = frozenset({"tmpfs", "ramfs"})


def filesystem_type(path: Path) -> str | None:
    """The type of the file system holding `path` (e.g. "tmpfs", "ext4"), from /proc/self/mountinfo; None where
    that cannot be read (not Linux), which the frame store treats as "not proven to be RAM"."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    target = str(Path(path).resolve())
    best, kind = "", None
    for line in lines:
        fields, _, after = line.partition(" - ")
        mount_point = fields.split()[4].replace("\\040", " ")
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best):  # the deepest mount wins; a later one over-mounts
            best, kind = mount_point, after.split()[0]
    return kind


class ShmFrameStore:
    """One folder per session on a RAM file system; atomic rename makes `take` safe across processes."""

    def __init__(self, root: str) -> None:
        self.root = Path(root)
        parent = self.root.parent
        kind = filesystem_type(parent) if parent.is_dir() else None
        if kind not in RAM_FILESYSTEMS:
            raise ImproperlyConfigured(
                f"The frame store needs a RAM file system at {parent}, which is {kind or 'not a folder'} "
                "(frames must never be written to disk). Use Linux's /dev/shm, mount a tmpfs there, or set "
                "LFR_FRAME_STORE_URL=redis://..."
            )
        self.root.mkdir(mode=0o700, exist_ok=True)

    def _dir(self, session_id: int) -> Path:
        return self.root / str(int(session_id))

    @staticmethod
    def _check_id(frame_id: str) -> str:
        return uuid.UUID(frame_id).hex  # refuses anything that could walk the file system

    def _frames(self, session_id: int) -> list[Path]:
        folder = self._dir(session_id)
        try:
            return [p for p in folder.iterdir() if p.suffix == ".frame"]
        except FileNotFoundError:
            return []

    def put(self, session_id: int, frame_id: str, data: bytes, *, limit: int) -> int | None:
        name = self._check_id(frame_id)
        folder = self._dir(session_id)
        folder.mkdir(mode=0o700, exist_ok=True)
        depth = len(self._frames(session_id))
        if depth >= limit:
            return None
        # Written under a temporary name, then renamed: a worker never sees half a frame.
        partial = folder / f"{name}.partial"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.rename(partial, folder / f"{name}.frame")
        return depth + 1

    def take(self, session_id: int, frame_id: str) -> bytes | None:
        name = self._check_id(frame_id)
        folder = self._dir(session_id)
        taken = folder / f"{name}.taken-{uuid.uuid4().hex}"
        try:
            os.rename(folder / f"{name}.frame", taken)
        except FileNotFoundError:
            return None
        try:
            return taken.read_bytes()
        finally:
            taken.unlink(missing_ok=True)

    def claim_take(self, session_id: int, frame_id: str) -> tuple[bool, bytes | None]:
        if not self._claim(session_id, frame_id):
            return False, None
        return True, self.take(session_id, frame_id)

    def _claim(self, session_id: int, frame_id: str) -> bool:
        name = self._check_id(frame_id)
        folder = self._dir(session_id)
        folder.mkdir(mode=0o700, exist_ok=True)
        try:
            os.close(os.open(folder / f"{name}.claim", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            return False
        return True

    def depth(self, session_id: int) -> int:
        return len(self._frames(session_id))

    def purge(self, session_id: int) -> int:
        count = len(self._frames(session_id))
        shutil.rmtree(self._dir(session_id), ignore_errors=True)
        return count

    def session_ids(self) -> set[int]:
        try:
            return {int(p.name) for p in self.root.iterdir() if p.is_dir() and p.name.isdigit()}
        except FileNotFoundError:
            return set()

    def ping(self) -> None:
        if not self.root.is_dir():
            raise OSError(f"{self.root} is missing")

    def expire_older_than(self, seconds: float) -> int:
        """Delete frames and claims older than `seconds` (Redis does this with a TTL)."""
        cutoff = time.time() - seconds
        removed = 0
        for session_id in self.session_ids():
            for path in self._dir(session_id).iterdir():
                try:
                    if path.stat().st_mtime < cutoff:
                        path.unlink(missing_ok=True)
                        removed += path.suffix == ".frame"
                except FileNotFoundError:
                    continue
        return removed


def store_url() -> str:
    url = getattr(settings, "LFR_FRAME_STORE_URL", "") or ""
    if url:
        return url
    broker = settings.CELERY_BROKER_URL or ""
    return broker if broker.startswith(("redis://", "rediss://")) else f"shm://{DEFAULT_SHM_ROOT}"


@functools.cache
def _store_for(url: str) -> FrameStore:
    parsed = urlparse(url)
    if parsed.scheme in ("redis", "rediss", "unix"):
        return RedisFrameStore(url)
    if parsed.scheme == "shm":
        return ShmFrameStore(parsed.path or DEFAULT_SHM_ROOT)
    raise ImproperlyConfigured(f"LFR_FRAME_STORE_URL must be redis://... or shm:///dev/shm/..., not {url!r}")


def get_store() -> FrameStore:
    """The frame store configured for this process (one client per URL, shared by threads)."""
    return _store_for(store_url())


def reset() -> None:
    """Forget cached stores (tests that change LFR_FRAME_STORE_URL)."""
    _store_for.cache_clear()
