"""Two Administrators deciding at once (PostgreSQL, one connection per thread): one approval wins, and crossed
approvals never deadlock."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from compliance.choices import Role
from compliance.models import AuditEvent, User
from compliance.selectors.accounts import pending_appointment
from compliance.services import accounts as account_services
from compliance.services import appointments as appointment_services
from lfr_portal.errors import NotPermitted, RuleViolation
from tests.services import require

pytestmark = pytest.mark.django_db(transaction=True)


def _at_once(*calls) -> list[BaseException | None]:
    """Run each call in its own thread and connection, released together; what each raised, or None."""
    start = threading.Barrier(len(calls))
    outcomes: list[BaseException | None] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            start.wait()
            calls[i]()
        except BaseException as exc:  # noqa: BLE001 - returned to the test
            outcomes[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return outcomes


def _propose(actor: User, user: User, role: str) -> None:
    account_services.user_change_role(actor=actor, user=user, role=role, appointment_grounds="Posting order")


def test_two_approvals_at_once_approve_once(make_user):
    require(connection.vendor == "postgresql", "PostgreSQL (DATABASE_URL=postgres://...)")
    proposer, *approvers = (make_user(Role.ADMINISTRATOR, username=f"admin{n}") for n in range(3))
    officer = make_user(Role.APPLICANT, username="officer")
    _propose(proposer, officer, Role.AUTHORISING_OFFICER)
    appointment = pending_appointment(user=officer)

    outcomes = _at_once(
        *(lambda a=a: appointment_services.appointment_approve(actor=a, appointment=appointment) for a in approvers)
    )

    assert sorted(type(o).__name__ for o in outcomes) == ["NoneType", "RuleViolation"]
    assert next(o for o in outcomes if isinstance(o, RuleViolation)).code == "appointment_decided"
    assert AuditEvent.objects.filter(action="account.appointment_approved").count() == 1
    assert User.objects.get(pk=officer.pk).role == Role.AUTHORISING_OFFICER


def test_an_approval_locks_the_appointment_and_the_account_only(make_user):
    """A proposed B's appointment and B proposed A's; two others approve both at once. Locking the proposer's
    account along with the appointment (a join in the FOR UPDATE) took A's then B's row in one approval and B's
    then A's in the other: a deadlock. Each lock names its own table now."""
    require(connection.vendor == "postgresql", "PostgreSQL (DATABASE_URL=postgres://...)")
    from django.test.utils import CaptureQueriesContext

    a, b, c, d = (make_user(Role.ADMINISTRATOR, username=name) for name in "abcd")
    _propose(a, b, Role.DPO)
    _propose(b, a, Role.DPO)
    for_b, for_a = pending_appointment(user=b), pending_appointment(user=a)
    with CaptureQueriesContext(connection) as queries:
        appointment_services.appointment_approve(actor=c, appointment=for_b)
    locks = [q["sql"] for q in queries.captured_queries if "FOR UPDATE" in q["sql"] and "roleappointment" in q["sql"]]
    assert locks and all(" JOIN " not in sql for sql in locks)
    assert User.objects.get(pk=b.pk).role == Role.DPO
    # b, now a DPO, is no longer an Administrator: their proposal for a can only be rejected.
    with pytest.raises(NotPermitted) as refused:
        appointment_services.appointment_approve(actor=d, appointment=for_a)
    assert refused.value.code == "proposer_not_administrator"
