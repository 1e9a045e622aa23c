"""Two operators start the same camera unit for two deployments at the same moment (PostgreSQL, one connection per
thread): both pass the service's check, the partial unique index lets one session in, and the other start is
refused cleanly (409 `session_already_live`, audited), never a server error."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from compliance.models import AuditEvent
from compliance.services import deployments as deployment_services
from lfr_portal.errors import InvalidTransition
from matching.models import MatchingSession
from matching.models.sessions import SessionStatus
from matching.services import sessions as session_services
from tests.matching.live_helpers import build_live
from tests.services import require

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.usefixtures("media", "budget", "frame_store", "queued")
def test_two_deployments_starting_one_camera_at_once_get_one_live_session(make_user, monkeypatch):
    require(connection.vendor == "postgresql", "PostgreSQL (DATABASE_URL=postgres://...)")
    first = build_live(make_user)
    second = build_live(make_user, title="Stratford station operation")
    assert first.camera.pk == second.camera.pk
    deployment_services.deployment_set_assigned_officers(
        actor=second.applicant, deployment=second.deployment, officer_ids=[second.operator.pk, first.operator.pk]
    )
    # Both starts check the unit while it is free, then insert together: only the constraint stands between them.
    real = getattr(session_services, "_camera_live_in", None)
    checked = threading.Barrier(2)
    seen = threading.local()

    def free_for_both(*args):
        if not getattr(seen, "checked", False):
            seen.checked = True
            checked.wait(10)
            return None
        return real(*args)

    monkeypatch.setattr(session_services, "_camera_live_in", free_for_both, raising=False)
    outcomes: list[BaseException | MatchingSession | None] = [None, None]

    def start(i: int, live) -> None:
        try:
            outcomes[i] = session_services.session_start(
                actor=first.operator, deployment=live.deployment, camera_unit=first.camera
            )
        except BaseException as exc:  # noqa: BLE001 - returned to the test
            outcomes[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=start, args=(i, live)) for i, live in enumerate((first, second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    started = [o for o in outcomes if isinstance(o, MatchingSession)]
    refused = [o for o in outcomes if isinstance(o, InvalidTransition)]
    assert len(started) == 1 and len(refused) == 1, outcomes
    assert refused[0].code == "session_already_live" and refused[0].status_code == 409
    # The operator is assigned to both: the refusal names the deployment and session that won.
    assert started[0].deployment.reference in refused[0].message and f"#{started[0].pk}" in refused[0].message
    assert list(MatchingSession.objects.filter(status=SessionStatus.LIVE).values_list("pk", flat=True)) == [
        started[0].pk
    ]
    event = AuditEvent.objects.get(action="session.refused")
    assert event.after["code"] == "session_already_live" and event.after["live_session"] == started[0].pk
