"""Deployment API: every role × endpoint, the error shape, and the OpenAPI schema."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from compliance.choices import Role
from compliance.models import Deployment
from compliance.services import deployments as svc
from tests.compliance import deployment_helpers as h

pytestmark = pytest.mark.django_db

A, AO, WC, OP, EO, DPO, ADM = (
    Role.APPLICANT,
    Role.AUTHORISING_OFFICER,
    Role.WATCHLIST_COMPILER,
    Role.LFR_OPERATOR,
    Role.ENGAGEMENT_OFFICER,
    Role.DPO,
    Role.ADMINISTRATOR,
)
ROLES = [A, AO, WC, OP, EO, DPO, ADM]


def _state(users, state: str) -> Deployment:
    """A deployment by the applicant fixture user in `state`, with the operator fixture user assigned."""
    applicant, ao = users[A], users[AO]
    if state == "draft":
        return h.draft(applicant)
    if state == "submitted":
        return h.submitted(applicant)
    deployment = h.authorised(applicant, ao)
    svc.deployment_set_assigned_officers(actor=applicant, deployment=deployment, officer_ids=[users[OP].pk])
    if state == "suspended":
        svc.deployment_suspend(actor=ao, deployment=deployment, reason="check")
    elif state == "completed":
        svc.deployment_close(actor=ao, deployment=deployment, reason="done")
    return Deployment.objects.get(pk=deployment.pk)


def _body(name: str, users) -> dict:
    return {
        "create": {"title": "New"},
        "update": {"objectives": "Updated objectives."},
        "authorise": {"rationale": "Proportionate.", "expires_at": h.expiry().isoformat()},
        "reject": {"rationale": "Vague grounds."},
        "review": {"objective_met": "yes", "outcome_summary": "One arrest."},
        "assign": {"officer_ids": [users[OP].pk]},
        "signage": {"position_description": "Exit", "sign_count": 2, "placed_at": timezone.now().isoformat()},
        "leaflets": {"count": 20, "shift_start": timezone.now().isoformat()},
    }.get(name, {"reason": "Because."})


# endpoint name -> (method, path suffix, state, {role: expected status})
MATRIX = {
    "list": ("get", "", "submitted", dict.fromkeys(ROLES, 200)),
    "create": ("post", "", None, {A: 201, AO: 403, WC: 403, OP: 403, EO: 403, DPO: 403, ADM: 403}),
    "retrieve": ("get", "{pk}/", "submitted", {A: 200, AO: 200, WC: 200, OP: 404, EO: 404, DPO: 200, ADM: 404}),
    "update": ("patch", "{pk}/", "submitted", {A: 200, AO: 403, WC: 403, OP: 404, EO: 404, DPO: 403, ADM: 404}),
    "submit": ("post", "{pk}/submit/", "draft", {A: 200, AO: 404, WC: 404, OP: 404, EO: 404, DPO: 403, ADM: 404}),
    "authorise": (
        "post", "{pk}/authorise/", "submitted", {A: 403, AO: 200, WC: 403, OP: 404, EO: 404, DPO: 403, ADM: 404}
    ),
    "reject": ("post", "{pk}/reject/", "submitted", {A: 403, AO: 200, WC: 403, OP: 404, EO: 404, DPO: 403, ADM: 404}),
    "suspend": (
        "post", "{pk}/suspend/", "authorised", {A: 403, AO: 200, WC: 403, OP: 403, EO: 404, DPO: 200, ADM: 404}
    ),
    "resume": ("post", "{pk}/resume/", "suspended", {A: 403, AO: 200, WC: 403, OP: 403, EO: 404, DPO: 403, ADM: 404}),
    "revoke": ("post", "{pk}/revoke/", "authorised", {A: 403, AO: 200, WC: 403, OP: 403, EO: 404, DPO: 200, ADM: 404}),
    "cancel": ("post", "{pk}/cancel/", "submitted", {A: 200, AO: 200, WC: 403, OP: 404, EO: 404, DPO: 403, ADM: 404}),
    "close": ("post", "{pk}/close/", "authorised", {A: 403, AO: 200, WC: 403, OP: 403, EO: 404, DPO: 403, ADM: 404}),
    "review": ("post", "{pk}/review/", "completed", {A: 403, AO: 200, WC: 403, OP: 403, EO: 404, DPO: 403, ADM: 404}),
    "assign": (
        "put", "{pk}/assigned-officers/", "authorised", {A: 200, AO: 403, WC: 403, OP: 403, EO: 404, DPO: 403, ADM: 404}
    ),
    "gates": ("get", "{pk}/gates/", "authorised", {A: 200, AO: 200, WC: 200, OP: 200, EO: 404, DPO: 200, ADM: 404}),
    "timeline": (
        "get", "{pk}/timeline/", "authorised", {A: 200, AO: 200, WC: 200, OP: 200, EO: 404, DPO: 200, ADM: 404}
    ),
    "signage_list": (
        "get", "{pk}/signage/", "authorised", {A: 200, AO: 200, WC: 200, OP: 200, EO: 404, DPO: 200, ADM: 404}
    ),
    "signage": (
        "post", "{pk}/signage/", "authorised", {A: 201, AO: 403, WC: 403, OP: 201, EO: 404, DPO: 403, ADM: 404}
    ),
    "leaflets": (
        "post", "{pk}/leaflets/", "authorised", {A: 201, AO: 403, WC: 403, OP: 201, EO: 404, DPO: 403, ADM: 404}
    ),
    "authorisation_pdf": (
        "get", "{pk}/authorisation-pdf/", "authorised", {A: 200, AO: 200, WC: 200, OP: 200, EO: 404, DPO: 200, ADM: 404}
    ),
    "record_pdf": (
        "get", "{pk}/record-pdf/", "completed", {A: 200, AO: 200, WC: 200, OP: 200, EO: 404, DPO: 200, ADM: 404}
    ),
}  # fmt: skip


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", sorted(MATRIX))
def test_role_by_endpoint(users, api_for, endpoint, role):
    method, suffix, state, expected = MATRIX[endpoint]
    deployment = _state(users, state) if state else None
    url = "/api/v1/deployments/" + suffix.format(pk=deployment.pk if deployment else "")
    client = api_for(users[role])
    kwargs = {"format": "json"} if method != "get" else {}
    body = _body(endpoint, users) if method != "get" else None
    response = getattr(client, method)(url, body, **kwargs) if body is not None else client.get(url)
    assert response.status_code == expected[role], (response.status_code, getattr(response, "content", b"")[:300])
    if response.status_code >= 400:
        assert set(response.json()["error"]) == {"code", "message", "details"}


def test_anonymous_gets_401_or_403(client):
    assert client.get("/api/v1/deployments/").status_code in (401, 403)


def test_create_with_windows_and_submit_via_api(users, api_for):
    client = api_for(users[A])
    fields = h.complete_fields()
    fields["public_notice_at"] = fields["public_notice_at"].isoformat()
    fields["windows"] = [{"start": s.isoformat(), "end": e.isoformat()} for s, e in h.windows(2)]
    fields["camera_unit_ids"] = [h.camera().pk]
    response = client.post("/api/v1/deployments/", fields, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["problems"] == {} and len(data["windows"]) == 2 and data["camera_units"] == ["van-1"]
    # A `?status=` filter left on the URL narrows lists, not the answer about the deployment just submitted.
    response = client.post(f"/api/v1/deployments/{data['id']}/submit/?status=draft")
    assert response.status_code == 200 and response.json()["status"] == "submitted"


def test_rule_violation_shape_names_the_field(users, api_for):
    start = h.first_start()
    response = api_for(users[A]).post(
        "/api/v1/deployments/",
        {
            "title": "x",
            "windows": [{"start": start.isoformat(), "end": (start + datetime.timedelta(hours=13)).isoformat()}],
        },
        format="json",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "rule_violation" and "maximum is 12 hours" in error["details"]["windows"][0]


def test_illegal_transition_is_409(users, api_for):
    deployment = _state(users, "submitted")
    response = api_for(users[AO]).post(f"/api/v1/deployments/{deployment.pk}/resume/", {"reason": "x"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "cannot_resume"


def test_gates_endpoint_reports_each_gate(users, api_for):
    deployment = _state(users, "authorised")
    at = deployment.windows.get().start + datetime.timedelta(minutes=5)
    response = api_for(users[OP]).get(
        f"/api/v1/deployments/{deployment.pk}/gates/", {"at": at.isoformat(), "operator": users[OP].pk}
    )
    data = response.json()
    assert [g["name"] for g in data["gates"]] == [
        "authorisation",
        "window",
        "watchlist",
        "signage",
        "public_notice",
        "operator",
    ]
    assert data["passed"] is False


def test_signage_update_records_removal(users, api_for):
    deployment = _state(users, "authorised")
    client = api_for(users[OP])
    created = client.post(
        f"/api/v1/deployments/{deployment.pk}/signage/",
        {"position_description": "Exit", "sign_count": 2, "placed_at": timezone.now().isoformat()},
        format="json",
    ).json()
    removed_at = (timezone.now() + datetime.timedelta(seconds=30)).isoformat()  # within a drifting clock's margin
    response = client.patch(
        f"/api/v1/deployments/{deployment.pk}/signage/{created['id']}/", {"removed_at": removed_at}, format="json"
    )
    assert response.status_code == 200 and response.json()["removed_by"] == users[OP].username


def test_list_query_count_is_bounded(users, api_for, django_assert_max_num_queries):
    for _ in range(3):
        h.submitted(users[A])
    client = api_for(users[AO])
    with django_assert_max_num_queries(20):
        response = client.get("/api/v1/deployments/")
    assert response.json()["count"] == 3


def test_only_list_and_retrieve_prefetch_what_the_deployment_output_reads(users, api_for):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    deployment = _state(users, "authorised")
    officers = Deployment.assigned_officers.through._meta.db_table

    def reads_officers(method: str, url: str) -> bool:
        with CaptureQueriesContext(connection) as ctx:
            response = getattr(api_for(users[AO]), method)(url)
        assert response.status_code == 200, response.content
        return any(officers in q["sql"] for q in ctx.captured_queries)

    base = f"/api/v1/deployments/{deployment.pk}/"
    assert reads_officers("get", base)
    # `?status=` filters lists; a detail URL still names its deployment.
    assert api_for(users[AO]).get(base, {"status": "draft"}).status_code == 200
    listed = api_for(users[DPO]).get("/api/v1/deployments/", {"status": "draft"}).json()
    assert deployment.pk not in [d["id"] for d in (listed["results"] if isinstance(listed, dict) else listed)]
    assert not reads_officers("get", base + "timeline/")
    assert not reads_officers("get", base + "authorisation-pdf/")
    # A change answers with the deployment as it now is, officers included (read afresh by _out).
    response = api_for(users[A]).put(
        base + "assigned-officers/", {"officer_ids": [users[OP].pk, users[EO].pk]}, format="json"
    )
    assert response.status_code == 200
    assert sorted(response.json()["assigned_officers"]) == sorted([users[OP].pk, users[EO].pk])


def test_schema_documents_deployment_endpoints(users, api_for):
    response = api_for(users[DPO]).get("/api/schema/", {"format": "json"})
    paths = response.json()["paths"]
    for suffix in ("authorise/", "suspend/", "gates/", "timeline/", "signage/", "authorisation-pdf/", "review/"):
        assert f"/api/v1/deployments/{{id}}/{suffix}" in paths
    assert "/api/v1/transparency/" in paths
