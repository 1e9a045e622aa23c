"""The only writer of the audit log: appends hash-chained events inside the caller's transaction.

Each event's hash is sha256 over the canonical JSON of its content plus the previous hash. Appends lock the
chain head row (and, on PostgreSQL, a transaction-scoped advisory lock), so concurrent writers take turns.
Store ids and hashes of biometric artefacts here, never images or encodings.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.utils import timezone

from compliance.models import AuditChainHead, AuditEvent
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
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVISORY_LOCK_KEY])
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


def _locked_head() -> AuditChainHead:
    """Lock the chain head, re-creating it from the last stored event if the row is missing."""
    try:
        return AuditChainHead.objects.select_for_update().get(pk=1)
    except AuditChainHead.DoesNotExist:
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
    """The result of re-verifying the chain: intact, how many events, and the first broken sequence number."""

    ok: bool
    count: int
    first_broken_seq: int | None = None
    reason: str = ""
    last_hash: str = ""


def verify_events(events: Iterable[AuditEvent], *, start_seq: int = 1, start_hash: str = GENESIS_HASH) -> ChainReport:
    """Walk events in order, recomputing every hash and link; name the first event that does not fit."""
    expected_seq, prev_hash, count = start_seq, start_hash, 0
    for event in events:
        if event.seq != expected_seq:
            return ChainReport(False, count, expected_seq, f"event #{expected_seq} is missing or out of order")
        if event.prev_hash != prev_hash:
            return ChainReport(False, count, event.seq, f"event #{event.seq} does not link to the previous event")
        if compute_hash(event_content(event)) != event.hash:
            return ChainReport(False, count, event.seq, f"event #{event.seq} was altered (hash mismatch)")
        prev_hash, expected_seq, count = event.hash, expected_seq + 1, count + 1
    return ChainReport(True, count, None, "", prev_hash)


def _iter_events() -> Iterator[AuditEvent]:
    return AuditEvent.objects.order_by("seq").iterator(chunk_size=2000)


def verify_chain() -> ChainReport:
    """Re-verify the whole stored chain against the head row."""
    start_seq, start_hash = chain_start()
    report = verify_events(_iter_events(), start_seq=start_seq, start_hash=start_hash)
    if not report.ok:
        return report
    head = AuditChainHead.objects.get(pk=1)
    if head.last_seq != start_seq - 1 + report.count:
        missing = start_seq + report.count
        return ChainReport(False, report.count, missing, f"event #{missing} is missing (the head is #{head.last_seq})")
    return report


def chain_start() -> tuple[int, str]:
    """Where the stored chain begins: genesis, or the checkpoint left by pruning (see issue on audit retention)."""
    return 1, GENESIS_HASH
