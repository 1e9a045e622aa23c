"""Audit retention (domain.md 6, 7): old events are exported to a checksummed segment, checkpointed, and deleted
through the one path the database trigger allows; the chain still verifies, and so does the segment."""

from __future__ import annotations

import datetime
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from freezegun import freeze_time

from compliance import audit
from compliance.models import AuditCheckpoint, AuditEvent, RetentionRun
from compliance.services import retention as svc

pytestmark = pytest.mark.django_db

SEVEN_YEARS = datetime.timedelta(days=7 * 365)


@pytest.fixture(autouse=True)
def archive(settings, tmp_path):
    settings.LFR_AUDIT_ARCHIVE_DIR = tmp_path / "audit-archive"
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.LFR_AUDIT_ARCHIVE_DIR


def _old_and_new(old: int = 5, new: int = 3) -> tuple[list[AuditEvent], list[AuditEvent]]:
    with freeze_time(timezone.now() - SEVEN_YEARS):
        olds = [audit.record_now("test.old", target_type="thing", target_id=i, after={"i": i}) for i in range(old)]
    news = [audit.record_now("test.new", target_type="thing", target_id=i, after={"i": i}) for i in range(new)]
    return olds, news


def _sweep() -> RetentionRun:
    return svc.retention_enforce(trigger="test")


def test_events_past_six_years_are_exported_checkpointed_and_pruned(archive, capsys):
    olds, news = _old_and_new()

    run = _sweep()

    checkpoint = AuditCheckpoint.objects.get()
    assert (checkpoint.first_seq, checkpoint.seq, checkpoint.hash) == (1, olds[-1].seq, olds[-1].hash)
    assert checkpoint.event_count == 5 and run.audit_checkpoint == checkpoint and run.status == "ok"
    assert not AuditEvent.objects.filter(seq__lte=checkpoint.seq).exists()
    assert AuditEvent.objects.filter(action="test.new").count() == 3
    segment = archive / checkpoint.segment_name
    assert segment.exists() and (archive / (checkpoint.segment_name + ".sha256")).read_text().startswith(
        checkpoint.segment_sha256
    )
    lines = [json.loads(line) for line in segment.read_text().splitlines()]
    assert [line["seq"] for line in lines[1:-1]] == [1, 2, 3, 4, 5]
    assert lines[-1]["last_hash"] == olds[-1].hash
    # The pruning itself is audited and names the checkpoint.
    pruned = AuditEvent.objects.get(action="audit.pruned")
    assert pruned.after["last_seq"] == checkpoint.seq and pruned.after["segment_sha256"] == checkpoint.segment_sha256

    assert audit.chain_start() == (checkpoint.seq + 1, checkpoint.hash)
    call_command("verify_audit")
    assert f"from checkpoint #{checkpoint.seq}" in capsys.readouterr().out
    call_command("verify_audit", segment=str(segment))
    assert "Audit segment intact: 5 events verified" in capsys.readouterr().out


def test_the_chain_keeps_growing_and_a_second_pruning_chains_to_the_first(archive):
    _old_and_new(old=3, new=0)
    _sweep()
    first = AuditCheckpoint.objects.get()
    assert audit.verify_segment(archive / first.segment_name).ok
    with freeze_time(timezone.now() + SEVEN_YEARS):
        audit.record_now("test.later")
        _sweep()
    second = AuditCheckpoint.objects.order_by("-seq").first()
    assert second.first_seq == first.seq + 1 and second.prev_hash == first.hash
    assert audit.verify_chain().ok
    assert audit.verify_segment(archive / second.segment_name).ok
    # Seven years on, the first segment's events are past the period and its grace: the file went, the row stays.
    assert not (archive / first.segment_name).exists() and AuditCheckpoint.objects.filter(pk=first.pk).exists()


def test_recent_events_are_never_pruned_and_the_dpo_cannot_go_below_six_months(make_user):
    dpo = make_user("dpo")
    _old_and_new(old=0, new=4)
    _sweep()
    assert not AuditCheckpoint.objects.exists()
    from lfr_portal.errors import RuleViolation

    with pytest.raises(RuleViolation) as refused:
        svc.retention_policy_set(actor=dpo, data_class="audit_log", period_hours=182 * 24)
    assert "statutory minimum" in str(refused.value.details["period_hours"][0])


def test_a_tampered_segment_is_detected(archive):
    _old_and_new()
    _sweep()
    checkpoint = AuditCheckpoint.objects.get()
    segment = archive / checkpoint.segment_name
    segment.write_text(segment.read_text().replace('"i":2', '"i":9'))

    with pytest.raises(CommandError, match="does not match its checkpoint"):
        call_command("verify_audit", segment=str(segment))


def test_a_rewritten_segment_with_a_fresh_trailer_still_fails_against_the_checkpoint(archive):
    _old_and_new()
    _sweep()
    checkpoint = AuditCheckpoint.objects.get()
    segment = archive / checkpoint.segment_name
    lines = segment.read_text().splitlines()
    event = json.loads(lines[2])
    event["after"] = {"i": 42}
    lines[2] = json.dumps(event, sort_keys=True, separators=(",", ":"))
    segment.write_text("\n".join(lines) + "\n")
    # Even with the checkpoint's checksum forged to match, the recomputed hash exposes the edit.
    import hashlib

    AuditCheckpoint.objects.filter(pk=checkpoint.pk).update(
        segment_sha256=hashlib.sha256(segment.read_bytes()).hexdigest()
    )
    report = audit.verify_segment(segment)
    assert not report.ok


def test_pruning_refuses_a_broken_chain(archive):
    _old_and_new()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE compliance_auditevent DISABLE TRIGGER USER")
        cursor.execute("UPDATE compliance_auditevent SET after = %s WHERE seq = 2", ['{"i": 99}'])
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE compliance_auditevent ENABLE TRIGGER USER")

    run = _sweep()

    assert run.status == "failed" and any(f["stage"] == "prune" for f in run.failures)
    assert not AuditCheckpoint.objects.exists() and AuditEvent.objects.filter(seq=1).exists()


def test_dry_run_lists_prunable_events_and_changes_nothing(capsys):
    _old_and_new()
    before = list(AuditEvent.objects.values_list("seq", "hash"))

    call_command("enforce_retention", "--dry-run")

    out = capsys.readouterr().out
    assert "AUDIT 5 event(s) through #5" in out
    assert list(AuditEvent.objects.values_list("seq", "hash")) == before
    assert not AuditCheckpoint.objects.exists() and not RetentionRun.objects.exists()


def test_postgres_allows_the_prune_path_only_inside_its_transaction(archive):
    if connection.vendor != "postgresql":
        pytest.skip("the trigger exists on PostgreSQL only")
    _old_and_new()
    _sweep()
    assert AuditCheckpoint.objects.exists()
    # Outside the pruning transaction the trigger still refuses a delete.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL lfr.audit_test_database = 'off'")
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            cursor.execute("DELETE FROM compliance_auditevent")
    assert audit.verify_chain().ok
