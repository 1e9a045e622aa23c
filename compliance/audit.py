"""The only writer of the audit log: appends hash-chained events inside the caller's transaction.

Each event's hash is sha256 over the canonical JSON of its content plus the previous hash. Appends lock the
chain head row, so concurrent writers take turns (on PostgreSQL, an advisory lock covers the moment before the row
exists, and pruning).
Store ids and hashes of biometric artefacts here, never images or encodings.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.utils import timezone

from compliance.models import AuditChainHead, AuditCheckpoint, AuditEvent
from lfr_portal import context

GENESIS_HASH = "0" * 64
_ADVISORY_LOCK_KEY = 0x1F5A_0D17  # arbitrary, fixed: "the audit chain"

HASHED_FIELDS = (
    "seq",
    "at",
    "actor_id",
    "actor_username",
    "actor_role",
    "actor_rank",
    "action",
    "target_type",
    "target_id",
    "deployment_id",
    "before",
    "after",
    "request_id",
    "prev_hash",
)
# Every stored column of an event, in the order exports and the API present them.
EVENT_FIELDS = (*HASHED_FIELDS, "hash")


def to_json_value(value: Any) -> Any:
    """Normalise a before/after payload to what a JSON column gives back, so the hash survives a round trip."""
    if value is None:
        return None
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder, sort_keys=True))


def _canonical_at(at: datetime.datetime) -> str:
    return at.astimezone(datetime.UTC).isoformat()


def event_content(event: AuditEvent) -> dict[str, Any]:
    """The canonical content an event's hash covers."""
    content = {name: getattr(event, name) for name in HASHED_FIELDS}
    content["at"] = _canonical_at(event.at)
    return content


def compute_hash(content: dict[str, Any]) -> str:
    payload = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, cls=DjangoJSONEncoder)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _actor_fields(actor: Any) -> dict[str, Any]:
    if actor is None or not getattr(actor, "is_authenticated", True):
        return {"actor_id": None, "actor_username": "system", "actor_role": "system", "actor_rank": ""}
    if hasattr(actor, "audit_identity"):  # non-user actors (camera units) describe themselves
        return actor.audit_identity()
    return {
        "actor_id": actor.pk,
        "actor_username": actor.get_username(),
        "actor_role": getattr(actor, "role", "") or "",
        "actor_rank": actor.get_rank_display() if hasattr(actor, "get_rank_display") else "",
    }


def target_of(obj: models.Model | None) -> tuple[str, str]:
    if obj is None:
        return "", ""
    return obj._meta.label_lower, str(obj.pk)


def record(
    action: str,
    *,
    actor: Any = None,
    target: models.Model | None = None,
    target_type: str = "",
    target_id: str | int = "",
    deployment_id: int | None = None,
    before: Any = None,
    after: Any = None,
    at: datetime.datetime | None = None,
) -> AuditEvent:
    """Append one event. Must run inside the transaction that makes the change it describes."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit.record must be called inside transaction.atomic() with the change it describes")
    if actor is None:
        actor = context.current_actor()
    if target is not None:
        target_type, target_id = target_of(target)
    head = _locked_head()
    event = AuditEvent(
        seq=head.last_seq + 1,
        at=at or timezone.now(),
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        deployment_id=deployment_id,
        before=to_json_value(before),
        after=to_json_value(after),
        request_id=context.current_request_id(),
        prev_hash=head.last_hash,
        **_actor_fields(actor),
    )
    event.hash = compute_hash(event_content(event))
    event.save(force_insert=True)
    AuditChainHead.objects.filter(pk=1).update(last_seq=event.seq, last_hash=event.hash)
    return event


def _lock_chain(*, shared: bool = False) -> None:
    """On PostgreSQL, the transaction-scoped lock of the whole chain: exclusive to prune or re-create a missing head;
    shared to verify, so no pruning starts or commits meanwhile while appends (which lock only the head row) go on."""
    if connection.vendor == "postgresql":
        function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {function}(%s)", [_ADVISORY_LOCK_KEY])


def _locked_head() -> AuditChainHead:
    """Lock the chain head, re-creating it from the last stored event if the row is missing.

    The row lock is what makes appends take turns. Only while there is no row to lock (a new database) do writers
    queue on the chain lock instead, so exactly one of them creates it."""
    try:
        return AuditChainHead.objects.select_for_update().get(pk=1)
    except AuditChainHead.DoesNotExist:
        _lock_chain()
        last = AuditEvent.objects.order_by("-seq").first()
        start_seq, start_hash = chain_start()
        AuditChainHead.objects.get_or_create(
            pk=1,
            defaults={
                "last_seq": last.seq if last else start_seq - 1,
                "last_hash": last.hash if last else start_hash,
            },
        )
        return AuditChainHead.objects.select_for_update().get(pk=1)


def record_now(action: str, **kwargs: Any) -> AuditEvent:
    """Append an event in its own transaction (for events that are not part of another change, e.g. a view)."""
    with transaction.atomic():
        return record(action, **kwargs)


@dataclass(frozen=True)
class ChainReport:
    """The result of re-verifying the chain: intact, how many events, and the first broken sequence number.

    `from_seq` and `from_hash` say where the walk began (genesis, or just after a checkpoint); an intact report's
    `last_seq` and `last_hash` are the last event it verified, so a caller never reads them again afterwards."""

    ok: bool
    count: int
    first_broken_seq: int | None = None
    reason: str = ""
    last_hash: str = ""
    from_seq: int = 1
    from_hash: str = GENESIS_HASH

    @property
    def last_seq(self) -> int:
        """The last event verified (`from_seq - 1` when none was)."""
        return self.from_seq - 1 + self.count


def verify_events(events: Iterable[AuditEvent], *, start_seq: int = 1, start_hash: str = GENESIS_HASH) -> ChainReport:
    """Walk events in order, recomputing every hash and link; name the first event that does not fit."""
    expected_seq, prev_hash, count = start_seq, start_hash, 0

    def broken(seq: int, reason: str) -> ChainReport:
        return ChainReport(False, count, seq, reason, from_seq=start_seq, from_hash=start_hash)

    for event in events:
        if event.seq != expected_seq:
            return broken(expected_seq, f"event #{expected_seq} is missing or out of order")
        if event.prev_hash != prev_hash:
            return broken(event.seq, f"event #{event.seq} does not link to the previous event")
        if compute_hash(event_content(event)) != event.hash:
            return broken(event.seq, f"event #{event.seq} was altered (hash mismatch)")
        prev_hash, expected_seq, count = event.hash, expected_seq + 1, count + 1
    return ChainReport(True, count, None, "", prev_hash, from_seq=start_seq, from_hash=start_hash)


def _iter_events(up_to: int) -> Iterator[AuditEvent]:
    return AuditEvent.objects.filter(seq__lte=up_to).order_by("seq").iterator(chunk_size=2000)


def verify_chain() -> ChainReport:
    """Re-verify the whole stored chain against the head row.

    The head is read first and the walk stops at it: events appended while the walk runs (a live system appends
    all the time) come after it and are left to the next verification, instead of being reported missing. The
    head and its events commit together, so every event up to the head is there to be read.

    The checkpoint, the head and the walk must see the same pruning: one that committed between them would leave
    a checkpoint older than the events still stored, reported as "missing". So they are read in one transaction
    holding the chain lock shared (PostgreSQL: pruning waits for the walk, appends do not; SQLite: the database
    lock does the same). Call it outside a transaction that has appended: pruning takes the chain lock first."""
    with transaction.atomic():
        _lock_chain(shared=True)
        start_seq, start_hash = chain_start()
        head = AuditChainHead.objects.filter(pk=1).values_list("last_seq", "last_hash").first()
        if head is None:
            if AuditEvent.objects.exists():  # the head is written with every event: it was removed
                return ChainReport(
                    False, 0, start_seq, "the chain head is missing", from_seq=start_seq, from_hash=start_hash
                )
            head = (start_seq - 1, start_hash)
        head_seq, head_hash = head
        report = verify_events(_iter_events(head_seq), start_seq=start_seq, start_hash=start_hash)
    if not report.ok:
        return report
    if head_seq != report.last_seq:
        missing = report.last_seq + 1
        return replace(
            report,
            ok=False,
            first_broken_seq=missing,
            last_hash="",
            reason=f"event #{missing} is missing (the head is #{head_seq})",
        )
    if report.last_hash != head_hash:
        return replace(
            report,
            ok=False,
            first_broken_seq=head_seq,
            last_hash="",
            reason=f"event #{head_seq} does not match the chain head",
        )
    return report


def chain_start() -> tuple[int, str]:
    """Where the stored chain begins: genesis, or just after the latest checkpoint left by pruning."""
    checkpoint = AuditCheckpoint.objects.order_by("-seq").only("seq", "hash").first()
    if checkpoint is None:
        return 1, GENESIS_HASH
    return checkpoint.seq + 1, checkpoint.hash


# ----------------------------------------------------------------------------------------------------------------
# Retention: exported segments and checkpoints (domain.md 6: the audit log is kept for a period, then pruned
# without breaking the chain). A segment file is JSON lines, each ended by "\n" (and only by it: other line
# separators may stand raw inside strings): a header, one line per event, and a trailer holding the last event's
# hash and the SHA-256 of every byte before it. The checkpoint row keeps the whole file's SHA-256.
# A segment is kept for a grace period after its events left the log, then deleted (`segment_delete`); its
# checkpoint row stays, holding hashes only, so the stored chain still starts there.

SEGMENT_FORMAT = "lfr-audit-segment/1"


def _event_line(event: AuditEvent) -> dict[str, Any]:
    content = event_content(event)
    content["hash"] = event.hash
    return content


def _segment_bytes(events: list[AuditEvent], *, prev_hash: str, cutoff: datetime.datetime) -> bytes:
    header = {
        "format": SEGMENT_FORMAT,
        "first_seq": events[0].seq,
        "last_seq": events[-1].seq,
        "prev_hash": prev_hash,
        "count": len(events),
        "cutoff": _canonical_at(cutoff),
    }
    lines = [header, *(_event_line(e) for e in events)]
    body = "".join(
        json.dumps(line, sort_keys=True, separators=(",", ":"), ensure_ascii=False, cls=DjangoJSONEncoder) + "\n"
        for line in lines
    ).encode("utf-8")
    trailer = {"trailer": True, "last_seq": events[-1].seq, "last_hash": events[-1].hash,
               "body_sha256": hashlib.sha256(body).hexdigest()}  # fmt: skip
    return body + (json.dumps(trailer, sort_keys=True, separators=(",", ":")) + "\n").encode("utf-8")


def _write_durably(path: Path, data: bytes) -> None:
    """Write, fsync the file, rename into place and fsync the directory: the export survives a crash."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def archive_dir() -> Path:
    return Path(settings.LFR_AUDIT_ARCHIVE_DIR)


def prunable_through(cutoff: datetime.datetime) -> int | None:
    """The last seq that may be pruned: every stored event up to it is older than `cutoff` (None if none)."""
    start_seq, _ = chain_start()
    first_kept = AuditEvent.objects.filter(at__gte=cutoff).order_by("seq").values_list("seq", flat=True).first()
    qs = AuditEvent.objects.filter(seq__gte=start_seq)
    if first_kept is not None:
        qs = qs.filter(seq__lt=first_kept)
    return qs.order_by("-seq").values_list("seq", flat=True).first()


def prune_through(seq: int, *, cutoff: datetime.datetime, actor: Any = None) -> AuditCheckpoint:
    """Export events up to `seq` to a segment file (fsynced), checkpoint it, delete them, and audit the pruning.

    The deletion is the one path the PostgreSQL trigger allows (`lfr.audit_prune`, set for this transaction
    only); a broken chain is never pruned, so a segment always verifies against its checkpoint.
    """
    with transaction.atomic():
        _lock_chain()
        _locked_head()
        start_seq, start_hash = chain_start()
        events = list(AuditEvent.objects.filter(seq__gte=start_seq, seq__lte=seq).order_by("seq"))
        if not events:
            raise ValueError(f"No stored audit events up to #{seq} to prune.")
        report = verify_events(events, start_seq=start_seq, start_hash=start_hash)
        if not report.ok:
            raise RuntimeError(f"Refusing to prune a broken audit chain: {report.reason}")
        now = timezone.now()
        data = _segment_bytes(events, prev_hash=start_hash, cutoff=cutoff)
        name = f"audit-{events[0].seq:012d}-{events[-1].seq:012d}.jsonl"
        digest = hashlib.sha256(data).hexdigest()
        path = archive_dir() / name
        _write_durably(path, data)
        _write_durably(path.with_name(name + ".sha256"), f"{digest}  {name}\n".encode())
        checkpoint = AuditCheckpoint.objects.create(
            seq=events[-1].seq,
            hash=events[-1].hash,
            first_seq=events[0].seq,
            prev_hash=start_hash,
            event_count=len(events),
            segment_name=name,
            segment_sha256=digest,
            cutoff=cutoff,
            created_at=now,
        )
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SET LOCAL lfr.audit_prune = 'on'")
            cursor.execute("DELETE FROM compliance_auditevent WHERE seq <= %s", [checkpoint.seq])
            if connection.vendor == "postgresql":
                cursor.execute("SET LOCAL lfr.audit_prune = 'off'")
        record(
            "audit.pruned",
            actor=actor,
            target=checkpoint,
            after={
                "first_seq": checkpoint.first_seq,
                "last_seq": checkpoint.seq,
                "last_hash": checkpoint.hash,
                "event_count": checkpoint.event_count,
                "segment": checkpoint.segment_name,
                "segment_sha256": checkpoint.segment_sha256,
                "cutoff": cutoff,
            },
        )
    return checkpoint


_SEGMENT_FILE = re.compile(r"^(audit-\d{12}-\d{12}\.jsonl)(?:\.sha256)?(?:\.tmp)?$")


def segment_files(name: str) -> list[Path]:
    """Every file a segment may leave in the archive: itself, its checksum, and either one's unfinished write."""
    base = archive_dir() / name
    return [base.with_name(name + suffix) for suffix in ("", ".sha256", ".tmp", ".sha256.tmp")]


def archived_segment_names() -> set[str]:
    """The names of the segments that still have a file in the archive directory."""
    try:
        entries = os.scandir(archive_dir())
    except FileNotFoundError:
        return set()
    with entries:
        return {match.group(1) for entry in entries if (match := _SEGMENT_FILE.match(entry.name))}


def segment_delete(checkpoint: AuditCheckpoint, *, keep_until: datetime.datetime, actor: Any = None) -> dict[str, Any]:
    """Delete a pruned segment's files once its grace has passed, check that none is left, and audit it.

    The checkpoint row stays (hashes and counts, no event content), so the stored chain still starts there and
    `audit.pruned` still names what the file held. The event is written first and the transaction rolls back if a
    file survives, so a deletion is audited exactly when it happened; the next sweep retries one that failed."""
    name = checkpoint.segment_name
    with transaction.atomic():
        present = [path.name for path in segment_files(name) if path.exists()]
        record(
            "audit.segment_deleted",
            actor=actor,
            target=checkpoint,
            after={
                "segment": name,
                "segment_sha256": checkpoint.segment_sha256,
                "first_seq": checkpoint.first_seq,
                "last_seq": checkpoint.seq,
                "cutoff": checkpoint.cutoff,
                "kept_until": keep_until,
                "files": present,
            },
        )
        for path in segment_files(name):
            path.unlink(missing_ok=True)
        left = [path.name for path in segment_files(name) if path.exists()]
        if left:
            raise OSError(f"the segment's files are still there after deletion: {', '.join(left)}")
    return {"segment": name, "checkpoint_seq": checkpoint.seq, "files_deleted": present, "checks": {"files": len(left)}}


def _event_from_line(line: dict[str, Any]) -> AuditEvent:
    values = {name: line.get(name) for name in HASHED_FIELDS}
    values["at"] = datetime.datetime.fromisoformat(line["at"])
    return AuditEvent(hash=line.get("hash", ""), **values)


def _segment_lines(data: bytes) -> list[bytes]:
    """A segment's lines. Only "\\n" ends one: the JSON is written with ensure_ascii=False, so U+2028, U+2029 and
    U+0085 (which str.splitlines() also breaks at) stand raw inside strings, e.g. a reason someone pasted."""
    lines = data.split(b"\n")
    if lines[-1] == b"":  # the newline that ends the trailer
        lines.pop()
    return lines


def verify_segment(path: str | Path) -> ChainReport:
    """Verify an exported segment: its checksum against its checkpoint, every hash and link, and the last hash."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return ChainReport(False, 0, None, f"cannot read {path}: {exc}")
    checkpoint = AuditCheckpoint.objects.filter(segment_name=path.name).first()
    if checkpoint is None:
        return ChainReport(False, 0, None, f"no checkpoint names the segment {path.name}")
    if hashlib.sha256(data).hexdigest() != checkpoint.segment_sha256:
        return ChainReport(False, 0, None, "the segment's SHA-256 does not match its checkpoint (file altered)")
    try:
        lines = [json.loads(raw.decode("utf-8")) for raw in _segment_lines(data)]
        header, body_lines, trailer = lines[0], lines[1:-1], lines[-1]
        body = data[: data.rstrip(b"\n").rfind(b"\n") + 1]
        events = [_event_from_line(line) for line in body_lines]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        return ChainReport(False, 0, None, f"the segment is not readable: {exc}")
    if header.get("format") != SEGMENT_FORMAT or not trailer.get("trailer"):
        return ChainReport(False, 0, None, "the segment's header or trailer is missing")
    if hashlib.sha256(body).hexdigest() != trailer.get("body_sha256"):
        return ChainReport(False, 0, None, "the segment's trailer checksum does not match its content")
    report = verify_events(events, start_seq=checkpoint.first_seq, start_hash=checkpoint.prev_hash)
    if not report.ok:
        return report
    ends_at_checkpoint = report.last_hash == checkpoint.hash == trailer.get("last_hash")
    if report.count != checkpoint.event_count or not ends_at_checkpoint:
        return ChainReport(False, report.count, checkpoint.seq, "the segment does not end at its checkpoint")
    return report
