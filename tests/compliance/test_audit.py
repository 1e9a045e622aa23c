"""The audit log: hash chain, append-only at three levels, verification, concurrent writers."""

from __future__ import annotations

import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from compliance import audit
from compliance.models import AuditEvent
from compliance.models.audit import AuditImmutableError


def _append(n: int) -> list[AuditEvent]:
    return [
        audit.record_now("test.event", target_type="thing", target_id=i, after={"i": i, "x": 0.6}) for i in range(n)
    ]


def _raw(sql: str, params: list | None = None) -> None:
    """Run SQL with the append-only trigger disabled, as an attacker with table-owner rights could."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE compliance_auditevent DISABLE TRIGGER USER")
        cursor.execute(sql, params or [])
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE compliance_auditevent ENABLE TRIGGER USER")


@pytest.mark.django_db
def test_events_chain_each_hash_to_the_previous_one():
    events = _append(3)
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[0].prev_hash == audit.GENESIS_HASH
    assert events[1].prev_hash == events[0].hash and events[2].prev_hash == events[1].hash
    report = audit.verify_chain()
    assert report.ok and report.count == 3 and report.last_hash == events[2].hash


@pytest.mark.django_db
def test_event_records_actor_snapshot_and_request_id(make_user):
    officer = make_user("authorising_officer", username="supt")
    event = audit.record_now("test.event", actor=officer, target=officer, before={"a": 1}, after={"a": 2})
    stored = AuditEvent.objects.get(seq=event.seq)
    assert (stored.actor_id, stored.actor_username, stored.actor_role) == (officer.pk, "supt", "authorising_officer")
    assert stored.actor_rank == "Superintendent"
    assert (stored.target_type, stored.target_id) == ("compliance.user", str(officer.pk))
    assert stored.before == {"a": 1} and stored.after == {"a": 2}
    assert len(stored.request_id) >= 16


@pytest.mark.django_db(transaction=True)
def test_record_refuses_to_run_outside_the_changing_transaction():
    with pytest.raises(RuntimeError, match="inside transaction.atomic"):
        audit.record("test.event")


@pytest.mark.django_db
def test_orm_refuses_to_update_or_delete_events():
    (event,) = _append(1)
    event.action = "edited"
    with pytest.raises(AuditImmutableError):
        event.save()
    with pytest.raises(AuditImmutableError):
        event.delete()
    with pytest.raises(AuditImmutableError):
        AuditEvent.objects.filter(seq=event.seq).update(action="edited")
    with pytest.raises(AuditImmutableError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get(seq=event.seq).action == "test.event"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE compliance_auditevent SET action = 'edited'",
        "DELETE FROM compliance_auditevent",
        "TRUNCATE compliance_auditevent",
    ],
)
def test_postgres_trigger_refuses_update_delete_and_truncate(sql):
    if connection.vendor != "postgresql":
        pytest.skip("the database trigger exists on PostgreSQL only")
    _append(2)
    with transaction.atomic(), connection.cursor() as cursor:
        # The test database allows TRUNCATE for the test runner's flush; switch that off as production has it.
        cursor.execute("SET LOCAL lfr.audit_test_database = 'off'")
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            cursor.execute(sql)
    assert AuditEvent.objects.count() == 2


def test_admin_is_read_only(rf):
    from django.contrib.admin.sites import site

    model_admin = site._registry[AuditEvent]
    request = rf.get("/")
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)


@pytest.mark.django_db
def test_verify_audit_exits_zero_and_prints_the_count(capsys):
    _append(4)
    call_command("verify_audit")
    assert "4 events verified" in capsys.readouterr().out


@pytest.mark.django_db
def test_verify_audit_names_an_altered_event():
    _append(5)
    _raw("UPDATE compliance_auditevent SET after = %s WHERE seq = 3", ['{"i": 99}'])
    with pytest.raises(CommandError, match=r"#3: event #3 was altered"):
        call_command("verify_audit")


@pytest.mark.django_db
def test_verify_audit_names_a_removed_event():
    _append(5)
    _raw("DELETE FROM compliance_auditevent WHERE seq = 2")
    with pytest.raises(CommandError, match=r"BROKEN at event #2"):
        call_command("verify_audit")


@pytest.mark.django_db
def test_verify_audit_names_a_removed_last_event():
    _append(3)
    _raw("DELETE FROM compliance_auditevent WHERE seq = 3")
    with pytest.raises(CommandError, match=r"BROKEN at event #3"):
        call_command("verify_audit")


@pytest.mark.django_db
def test_verify_audit_names_reordered_events():
    _append(4)
    # Swap the contents of events 2 and 3 by swapping their sequence numbers.
    _raw("UPDATE compliance_auditevent SET seq = 1000 WHERE seq = 2")
    _raw("UPDATE compliance_auditevent SET seq = 2 WHERE seq = 3")
    _raw("UPDATE compliance_auditevent SET seq = 3 WHERE seq = 1000")
    with pytest.raises(CommandError, match=r"BROKEN at event #2"):
        call_command("verify_audit")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("head", ["present", "missing"])
def test_concurrent_writers_never_fork_the_chain(head):
    # Writers take turns on the chain head row; while there is no row yet (a new database), on the chain lock.
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers itself; the lock is exercised on PostgreSQL")
    from compliance.models import AuditChainHead

    if head == "present":
        audit.record_now("test.first")
    else:
        AuditChainHead.objects.all().delete()
    first = AuditEvent.objects.count() + 1
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def writer(n: int) -> None:
        try:
            start.wait()
            for i in range(15):
                audit.record_now("test.concurrent", target_type="writer", target_id=n, after={"i": i})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, first + 90))
    assert len(set(AuditEvent.objects.values_list("prev_hash", flat=True))) == first + 89
    assert audit.verify_chain().ok


@pytest.mark.django_db
def test_events_appended_while_the_chain_is_verified_are_not_reported_missing(monkeypatch):
    # A live system appends all the time: an event committed after the walk began is for the next verification.
    _append(3)
    walk = audit._iter_events

    def walk_then_append(*args):
        yield from walk(*args)
        _append(1)

    monkeypatch.setattr(audit, "_iter_events", walk_then_append)
    report = audit.verify_chain()
    assert report.ok and report.count == 3, report
    monkeypatch.setattr(audit, "_iter_events", walk)
    assert audit.verify_chain().count == 4


@pytest.mark.django_db
def test_a_head_that_does_not_match_its_last_event_is_reported():
    _append(2)
    from compliance.models import AuditChainHead

    AuditChainHead.objects.filter(pk=1).update(last_hash="0" * 64)
    report = audit.verify_chain()
    assert not report.ok and report.first_broken_seq == 2 and "chain head" in report.reason


@pytest.mark.django_db
def test_a_missing_chain_head_is_reported_not_read_as_an_empty_chain():
    from compliance.models import AuditChainHead

    assert audit.verify_chain().ok  # nothing yet: an empty chain is intact
    _append(2)
    AuditChainHead.objects.filter(pk=1).delete()
    report = audit.verify_chain()
    assert not report.ok and "head is missing" in report.reason
