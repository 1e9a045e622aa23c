"""The API answers a client's mistakes with the right status, never a 500: unknown or malformed ids, filters on
actions, impossible times; and no page is larger than the pagination ceiling."""

from __future__ import annotations

import pytest
from django.utils import timezone

from compliance.choices import Role
from lfr_portal.pagination import MAX_LIMIT
from matching.models import Alert
from matching.services import frames as frame_services
from tests.compliance import deployment_helpers
from tests.matching.live_helpers import face_jpeg

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("role", "method", "url"),
    [
        (Role.WATCHLIST_COMPILER, "get", "/api/v1/watchlists/999999/"),
        (Role.WATCHLIST_COMPILER, "get", "/api/v1/watchlist-entries/999999/"),
        (Role.WATCHLIST_COMPILER, "patch", "/api/v1/watchlist-entries/999999/"),
        (Role.WATCHLIST_COMPILER, "get", "/api/v1/enrolment-batches/abc/"),
        (Role.ADMINISTRATOR, "post", "/api/v1/camera-units/abc/issue-token/"),
        (Role.DPO, "get", "/api/v1/audit-events/x/"),
    ],
)
def test_unknown_or_malformed_ids_are_404_in_the_error_shape(users, api_for, role, method, url):
    response = getattr(api_for(users[role]), method)(url, {}, format="json")

    assert response.status_code == 404, response.content[:300]
    assert response.json()["error"]["code"] == "not_found"


def test_a_watch_list_of_a_draft_deployment_is_404_not_500(users, api_for):
    draft = deployment_helpers.draft(users[Role.APPLICANT])

    response = api_for(users[Role.WATCHLIST_COMPILER]).get(f"/api/v1/watchlists/{draft.pk}/")

    assert response.status_code == 404


def test_an_impossible_time_for_the_gates_is_400(users, api_for):
    deployment = deployment_helpers.submitted(users[Role.APPLICANT])

    response = api_for(users[Role.APPLICANT]).get(
        f"/api/v1/deployments/{deployment.pk}/gates/", {"at": "2025-02-30T10:00:00Z"}
    )

    assert response.status_code == 400 and response.json()["error"]["details"] == {"at": ["Invalid time."]}


def test_list_filters_do_not_apply_to_an_action_on_one_record(live, api_for):
    from matching.services import sessions as session_services

    session = session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=live.camera)
    accepted = frame_services.frame_submit(
        actor=live.principal, session_id=session.pk, data=face_jpeg(), captured_at=timezone.now()
    )
    frame_services.frame_process(session_id=session.pk, frame_id=accepted.frame_id, captured_at=timezone.now())
    alert = Alert.objects.get()
    client = api_for(live.operator)

    dismissed = client.post(f"/api/v1/alerts/{alert.pk}/dismiss/?status=new", {}, format="json")
    stopped = client.post(f"/api/v1/sessions/{session.pk}/stop/?live=1", {}, format="json")

    assert dismissed.status_code == 200 and dismissed.json()["status"] == "dismissed"
    assert stopped.status_code == 200 and stopped.json()["status"] == "stopped"


def test_no_page_is_larger_than_the_ceiling(users, api_for):
    from compliance import audit

    for n in range(MAX_LIMIT + 5):
        audit.record_now("test.event", target_type="test", target_id=n)

    page = api_for(users[Role.DPO]).get("/api/v1/audit-events/", {"limit": "100000000"}).json()

    assert page["count"] > MAX_LIMIT == 200 and len(page["results"]) == MAX_LIMIT and page["next"]


def test_an_operator_not_assigned_gets_404_not_the_gate_report(live, api_for, client_for, make_user):
    """An unassigned operator cannot read the deployment's gates; starting a session must not tell them either."""
    stranger = make_user(Role.LFR_OPERATOR)

    response = api_for(stranger).post(
        "/api/v1/sessions/", {"deployment": live.deployment.pk, "camera_unit": live.camera.pk}, format="json"
    )
    page = client_for(stranger).post(
        "/sessions/start/", {"deployment": live.deployment.pk, "camera_unit": live.camera.pk}
    )

    assert response.status_code == 404 and "gates" not in str(response.json())
    assert page.status_code == 404
    assert api_for(stranger).get(f"/api/v1/deployments/{live.deployment.pk}/gates/").status_code == 404
    # Each attempt is still on the record, without the gate report.
    from compliance.models import AuditEvent

    refused = AuditEvent.objects.filter(action="session.refused", actor_id=stranger.pk)
    assert refused.count() == 2 and all(e.after["code"] == "not_found" and "gates" not in e.after for e in refused)
    # A role that never starts sessions is told so (403), not that the deployment does not exist.
    admin = api_for(live.admin).post(
        "/api/v1/sessions/", {"deployment": live.deployment.pk, "camera_unit": live.camera.pk}, format="json"
    )
    assert admin.status_code == 403


def test_only_a_compiler_learns_whether_a_library_image_exists(live, api_for):
    url = f"/api/v1/watchlists/{live.deployment.pk}/library-entries/"
    body = {"category": "wanted_serious", "offence_or_reason": "x", "justification": "y"}

    missing = api_for(live.ao).post(url, {**body, "reference_image": 999999}, format="json")

    assert missing.status_code == 403 and missing.json()["error"]["code"] == "wrong_role"


def test_every_record_url_takes_digits_only_unless_its_viewset_names_its_lookup():
    import re

    from compliance.api.urls import router as compliance_router
    from matching.api.urls import router as matching_router

    for router in (compliance_router, matching_router):
        for prefix, viewset, _basename in router.registry:
            lookup = re.compile(f"^{router.get_lookup_regex(viewset)}$")
            own = viewset.__dict__.get("lookup_value_regex")
            assert lookup.match("12"), prefix
            assert bool(lookup.match("abc")) == (own is not None), prefix  # only a named lookup takes letters


def test_numbers_ids_and_times_beyond_what_the_database_holds_are_400_not_500(users, api_for):
    """An API fuzzing run (schemathesis) found 500s on input a client can send: a 23-digit id in a path, a filter
    or a body, and times at the ends of the calendar that overflow when turned into UTC. Each is the client's
    mistake and gets a 400 in the error shape; nothing is written."""
    deployment = deployment_helpers.authorised(users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER])
    huge = "9" * 23
    applicant, dpo = api_for(users[Role.APPLICANT]), api_for(users[Role.DPO])
    # PostgreSQL holds those times (SQLite's path through Python's dates does not): answered or refused, never a 500.
    for params in ({"since": "0001-01-01T00:00:00+14:00"}, {"until": "9999-12-31T23:59:59-14:00"}):
        response = dpo.get("/api/v1/audit-events/", params)
        assert response.status_code in (200, 400), response.content[:300]
        assert response.status_code == 200 or response.json()["error"]["code"] == "out_of_range"
    alerts = api_for(users[Role.LFR_OPERATOR]).get("/api/v1/alerts/", {"session": huge})  # none (PostgreSQL)
    assert alerts.status_code in (200, 400) and (
        alerts.status_code == 200 or alerts.json()["error"]["code"] == "out_of_range"
    )
    gates = dpo.get(f"/api/v1/deployments/{deployment.pk}/gates/", {"at": "0001-01-01T00:00:00+14:00"})
    assert gates.status_code in (200, 400) and (
        gates.status_code == 200 or gates.json()["error"]["code"] == "out_of_range"
    )
    refused = [
        applicant.put(
            f"/api/v1/deployments/{deployment.pk}/assigned-officers/", {"officer_ids": [int(huge)]}, format="json"
        ),
    ]
    for response in refused:  # SQLite overflows; PostgreSQL finds no such officer
        assert response.status_code == 400, response.content[:300]
        assert response.json()["error"]["code"] in ("out_of_range", "rule_violation")
    assert not deployment.assigned_officers.exists()


def test_hand_recorded_counts_are_bounded_with_the_field_named(users, api_for):
    """A 3,000,000,000-sign record was 201 on SQLite and a bare out_of_range on PostgreSQL (an int4 column)."""
    deployment = deployment_helpers.authorised(users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER])
    client = api_for(users[Role.APPLICANT])
    now = timezone.now().isoformat()
    signs = client.post(
        f"/api/v1/deployments/{deployment.pk}/signage/",
        {"position_description": "Exit", "sign_count": 3_000_000_000, "placed_at": now},
        format="json",
    )
    leaflets = client.post(
        f"/api/v1/deployments/{deployment.pk}/leaflets/", {"count": 3_000_000_000, "shift_start": now}, format="json"
    )
    assert signs.status_code == 400 and "sign_count" in signs.json()["error"]["details"]
    assert leaflets.status_code == 400 and "count" in leaflets.json()["error"]["details"]


def test_leaflets_cannot_be_recorded_for_a_shift_still_to_come(users, api_for):
    """Signs are recorded once placed; leaflets likewise once handed out (a shift in the year 5676 was 201)."""
    import datetime

    from compliance.models import LeafletRecord

    deployment = deployment_helpers.authorised(users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER])
    client = api_for(users[Role.APPLICANT])
    ahead = (timezone.now() + datetime.timedelta(hours=3)).isoformat()
    refused = client.post(
        f"/api/v1/deployments/{deployment.pk}/leaflets/", {"count": 40, "shift_start": ahead}, format="json"
    )
    assert refused.status_code == 400 and "shift_start" in refused.json()["error"]["details"]
    done = client.post(
        f"/api/v1/deployments/{deployment.pk}/leaflets/",
        {"count": 40, "shift_start": timezone.now().isoformat()},
        format="json",
    )
    assert done.status_code == 201
    moved = client.patch(
        f"/api/v1/deployments/{deployment.pk}/leaflets/{done.json()['id']}/", {"shift_start": ahead}, format="json"
    )
    assert moved.status_code == 400 and LeafletRecord.objects.get().shift_start < timezone.now()


@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("/api/v1/alerts/", {"session": "abc"}),
        ("/api/v1/alerts/", {"session": "²"}),
        ("/api/v1/sessions/", {"live": "maybe"}),
    ],
)
def test_a_filter_that_cannot_be_read_is_refused_not_dropped(users, api_for, url, params):
    """A dropped filter answered with every alert or session the caller may see, as if it had matched."""
    response = api_for(users[Role.LFR_OPERATOR]).get(url, params)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_filter"
    name = next(iter(params))
    assert name in response.json()["error"]["details"]


def test_an_api_write_without_its_trailing_slash_is_told_the_url_not_redirected(users, api_for):
    """CommonMiddleware redirected it (a 500 page with DEBUG), and clients lose the body on a redirect."""
    response = api_for(users[Role.APPLICANT]).post("/api/v1/deployments", {"title": "x"}, format="json")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "trailing_slash_required" and "/api/v1/deployments/" in error["message"]
