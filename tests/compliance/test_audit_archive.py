"""The audit archive (domain.md 6, 7): segments verify whatever their events hold, the audit pack prints what it
verified, and a segment is deleted once its grace has passed, leaving its checkpoint."""

from __future__ import annotations

import datetime
import io
import re

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone
from freezegun import freeze_time
from pypdf import PdfReader

from compliance import audit
from compliance.choices import Role
from compliance.models import AuditChainHead, AuditCheckpoint, AuditEvent, Deployment
from compliance.services import retention as svc
from tests.compliance import deployment_helpers as h

pytestmark = pytest.mark.django_db

SEVEN_YEARS = datetime.timedelta(days=7 * 365)
# Each of them ends a line for str.splitlines(); JSON written with ensure_ascii=False keeps them raw.
LINE_SEPARATORS = "\u2028\u2029\u0085"


@pytest.fixture(autouse=True)
def archive(settings, tmp_path):
    settings.LFR_AUDIT_ARCHIVE_DIR = tmp_path / "audit-archive"
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.LFR_AUDIT_ARCHIVE_DIR


def _old_events(n: int = 3, **after) -> list[AuditEvent]:
    with freeze_time(timezone.now() - SEVEN_YEARS):
        return [
            audit.record_now("test.old", target_type="thing", target_id=i, after={"i": i, **after}) for i in range(n)
        ]


# --- Segments are split on "\n" only --------------------------------------------------------------------------


def test_a_segment_whose_events_hold_unicode_line_separators_verifies(archive, capsys):
    """Before, verify_segment split with str.splitlines(), which also breaks at U+2028, U+2029 and U+0085: a pruned
    reason holding one made the segment "not readable" for ever."""
    _old_events(reason=f"pasted from a statement{LINE_SEPARATORS}second paragraph")

    run = svc.retention_enforce(trigger="test")

    checkpoint = AuditCheckpoint.objects.get()
    segment = archive / checkpoint.segment_name
    assert LINE_SEPARATORS.encode() in segment.read_bytes()  # written raw, as every segment so far
    report = audit.verify_segment(segment)
    assert report.ok, report.reason
    assert report.count == 3 and report.last_hash == checkpoint.hash
    assert run.status == "ok", run.failures
    call_command("verify_audit", segment=str(segment))
    assert "Audit segment intact: 3 events verified" in capsys.readouterr().out


def test_a_segment_line_broken_by_a_newline_is_still_refused(archive):
    """Only "\n" ends a line, and it still does: an event split over two lines is not read as one."""
    _old_events()
    svc.retention_enforce(trigger="test")
    checkpoint = AuditCheckpoint.objects.get()
    segment = archive / checkpoint.segment_name
    data = segment.read_bytes().replace(b'"i":1', b'"i":\n1', 1)
    segment.write_bytes(data)
    import hashlib

    AuditCheckpoint.objects.filter(pk=checkpoint.pk).update(segment_sha256=hashlib.sha256(data).hexdigest())
    assert not audit.verify_segment(segment).ok


# --- The audit pack prints the hash it verified ------------------------------------------------------------------


def _pack_text(deployment: Deployment) -> str:
    from compliance.pdf_audit_pack import audit_pack_pdf

    pdf = audit_pack_pdf(Deployment.objects.get(pk=deployment.pk))
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages))


def test_the_audit_pack_prints_the_last_event_it_verified_not_a_later_one(users, monkeypatch):
    """Before, the pack printed "Hash of the last event" from a fresh query after the verification: an event
    appended meanwhile (a live system appends all the time) was shown as if it had been verified."""
    deployment = h.authorised(users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER])
    heads, appended = [], []
    real_verify = audit.verify_chain

    def verify_then_append() -> audit.ChainReport:
        report = real_verify()
        heads.append(AuditChainHead.objects.get(pk=1))  # what the verification reached
        appended.append(audit.record_now("test.appended_after_verification"))
        return report

    monkeypatch.setattr(audit, "verify_chain", verify_then_append)

    text = _pack_text(deployment)

    head, later = heads[0], appended[0]
    assert later.seq == head.last_seq + 1
    compact = text.replace(" ", "")
    assert head.last_hash in compact and later.hash not in compact
    assert f"Lasteventverified#{head.last_seq}" in compact


# --- Segments are deleted after their grace; the checkpoint stays -------------------------------------------------


def _prune_old_events() -> AuditCheckpoint:
    _old_events()
    svc.retention_enforce(trigger="test")
    return AuditCheckpoint.objects.get()


def _grace_ends(checkpoint: AuditCheckpoint) -> datetime.datetime:
    """Every event in the segment is older than its cutoff, and the cutoff is the audit period before the prune: the
    file goes LFR_AUDIT_SEGMENT_GRACE_DAYS after the prune."""
    return checkpoint.cutoff + datetime.timedelta(
        days=settings.LFR_AUDIT_RETENTION_DAYS + settings.LFR_AUDIT_SEGMENT_GRACE_DAYS
    )


def test_the_segment_grace_is_a_setting_and_short(settings):
    """domain.md 6 keeps the audit log six years: a segment of pruned events outlives them only by a short grace."""
    assert svc.audit_segment_grace() == datetime.timedelta(days=90)
    settings.LFR_AUDIT_SEGMENT_GRACE_DAYS = 7
    assert svc.audit_segment_grace() == datetime.timedelta(days=7)


def test_a_segment_is_kept_through_its_grace_then_deleted_and_its_checkpoint_stays(archive, capsys):
    """domain.md 6: the audit log is kept six years, and after a sweep nothing of deleted data can be found.
    Before, a pruned segment (names, roles, reasons) stayed in the archive for ever."""
    checkpoint = _prune_old_events()
    files = [archive / checkpoint.segment_name, archive / (checkpoint.segment_name + ".sha256")]
    ends = _grace_ends(checkpoint)

    with freeze_time(ends - datetime.timedelta(days=1)):
        early = svc.retention_enforce(trigger="test")
    assert all(f.exists() for f in files) and early.status == "ok", early.failures
    assert not AuditEvent.objects.filter(action="audit.segment_deleted").exists()

    with freeze_time(ends + datetime.timedelta(minutes=1)):
        call_command("enforce_retention", "--dry-run")
        assert f"SEGMENT {checkpoint.segment_name} (events #1-#3" in capsys.readouterr().out
        assert all(f.exists() for f in files)  # the dry run changes nothing
        run = svc.retention_enforce(trigger="test")

    assert run.status == "ok", run.failures
    assert not any(f.exists() for f in files)
    assert not [p.name for p in archive.iterdir() if p.name.startswith(checkpoint.segment_name)]
    kept = AuditCheckpoint.objects.get(pk=checkpoint.pk)  # hashes and counts, no event content
    assert (kept.seq, kept.hash, kept.segment_sha256) == (checkpoint.seq, checkpoint.hash, checkpoint.segment_sha256)
    event = AuditEvent.objects.get(action="audit.segment_deleted")
    assert event.target_type == "compliance.auditcheckpoint" and event.target_id == str(checkpoint.pk)
    assert event.after["segment"] == checkpoint.segment_name
    assert event.after["segment_sha256"] == checkpoint.segment_sha256
    assert set(event.after["files"]) == {f.name for f in files}
    assert {"target_type": "compliance.auditcheckpoint", "target_id": str(checkpoint.pk)}.items() <= run.deleted[
        0
    ].items()
    proof = next(e for e in run.evidence if e.get("segment") == checkpoint.segment_name)
    assert proof["checks"] == {"files": 0}
    assert audit.verify_chain().ok  # the chain still starts at the checkpoint
    # A deleted segment cannot be verified any more, and says so.
    assert "cannot read" in audit.verify_segment(files[0]).reason

    with freeze_time(ends + datetime.timedelta(days=1)):
        again = svc.retention_enforce(trigger="test")
    assert again.status == "ok" and AuditEvent.objects.filter(action="audit.segment_deleted").count() == 1


def test_a_segment_that_cannot_be_deleted_is_a_recorded_failure_and_not_audited_as_deleted(archive, monkeypatch):
    checkpoint = _prune_old_events()
    segment = archive / checkpoint.segment_name
    monkeypatch.setattr(type(segment), "unlink", lambda self, missing_ok=False: None)  # the disk refuses

    with freeze_time(_grace_ends(checkpoint) + datetime.timedelta(minutes=1)):
        run = svc.retention_enforce(trigger="test")

    assert segment.exists() and run.status == "failed"
    assert [f["stage"] for f in run.failures] == ["delete"] and "still there" in run.failures[0]["error"]
    assert not AuditEvent.objects.filter(action="audit.segment_deleted").exists()
    failed = AuditEvent.objects.get(action="retention.failed")
    assert failed.target_id == str(checkpoint.pk) and failed.after["segment"] == checkpoint.segment_name
