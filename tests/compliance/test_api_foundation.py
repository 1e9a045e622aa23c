"""The API foundation: one JSON error shape, token and session auth, OpenAPI schema and self-hosted docs."""

from __future__ import annotations

import pytest
from django.urls import path
from knox.models import AuthToken
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.test import APIClient

from compliance.choices import Role
from compliance.models import AuditEvent
from compliance.services import accounts as account_services

pytestmark = pytest.mark.django_db


def _assert_error_shape(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    if code:
        assert body["error"]["code"] == code
    return body


def test_unknown_endpoint_is_a_json_404():
    _assert_error_shape(APIClient().get("/api/v1/no-such-thing/"), 404, "not_found")


def test_unauthenticated_request_is_a_json_error():
    body = _assert_error_shape(APIClient().get("/api/v1/me/"), 401, "not_authenticated")
    assert body["error"]["message"]


def test_token_authentication_for_machine_clients(make_user):
    user = make_user("lfr_operator", username="van-client")
    token = account_services.api_token_issue(actor=None, user=user).token
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = client.get("/api/v1/me/")
    assert response.status_code == 200 and response.json()["username"] == "van-client"


def test_validation_errors_use_the_shape_and_name_fields(make_user, api_for):
    admin = make_user("administrator", username="admin")
    body = _assert_error_shape(api_for(admin).post("/api/v1/users/", {"username": "x"}, format="json"), 400)
    assert body["error"]["code"] == "validation_error" and "password" in body["error"]["details"]


def test_service_refusals_use_the_shape(make_user, api_for):
    admin = make_user("administrator", username="admin")
    body = _assert_error_shape(
        api_for(admin).post("/api/v1/users/", {"username": "weak", "password": "short", "role": "dpo"}, format="json"),
        400,
        "rule_violation",
    )
    assert "password" in body["error"]["details"]


@pytest.mark.parametrize("role", Role.values)
def test_user_management_api_is_for_administrators_only(make_user, api_for, role):
    actor = make_user(role, username=f"actor-{role}")
    response = api_for(actor).get("/api/v1/users/")
    if role == Role.ADMINISTRATOR:
        assert response.status_code == 200
    else:
        _assert_error_shape(response, 403, "permission_denied")


@pytest.mark.parametrize("role", Role.values)
def test_audit_api_for_dpo_and_administrator(make_user, api_for, role):
    actor = make_user(role, username=f"actor-{role}")
    response = api_for(actor).get("/api/v1/audit-events/")
    assert response.status_code == (200 if role in (Role.DPO, Role.ADMINISTRATOR) else 403)


def test_administrator_changes_a_role_through_the_api_and_it_is_audited(make_user, api_for):
    admin = make_user("administrator", username="admin")
    officer = make_user("applicant", username="officer")
    response = api_for(admin).patch(f"/api/v1/users/{officer.pk}/", {"role": "watchlist_compiler"}, format="json")
    assert response.status_code == 200 and response.json()["role"] == "watchlist_compiler"
    assert AuditEvent.objects.filter(action="account.role_changed", target_id=str(officer.pk)).exists()


def test_openapi_schema_and_self_hosted_docs():
    client = APIClient()
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert "/api/v1/users/" in schema.json()["paths"]
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger" in html.lower() and "cdn." not in html and "https://" not in html.split("<body")[0]


def test_openapi_schema_generates_without_warnings_and_validates(tmp_path):
    # A warning is a schema a client generator gets wrong or names unstably (a hashed enum name, an untyped path
    # parameter): --fail-on-warn keeps them out.
    from django.core.management import call_command

    out = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    assert "WatchlistCategoryEnum:" in text and "CalibrationStatusEnum:" in text


@api_view(["GET"])
@permission_classes([AllowAny])
def _crash(request):
    raise ZeroDivisionError("boom")


def _plain_crash(request):
    raise ZeroDivisionError("boom")


urlpatterns = [path("api/v1/crash/", _crash), path("api/v1/plain-crash/", _plain_crash)]


@pytest.mark.urls("tests.compliance.test_api_foundation")
@pytest.mark.parametrize("url", ["/api/v1/crash/", "/api/v1/plain-crash/"])
def test_crashes_reach_api_clients_as_json_never_html(url):
    client = APIClient(raise_request_exception=False)
    _assert_error_shape(client.get(url), 500, "server_error")


@pytest.mark.parametrize("role", ["authorising_officer", "dpo"])
def test_api_tokens_cannot_skip_the_second_factor(make_user, role):
    officer = make_user(role, username=f"token-{role}")
    _instance, token = AuthToken.objects.create(user=officer)  # as if issued before the role changed
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    for url in ("/api/v1/me/", "/api/v1/deployments/", "/api/v1/audit-events/"):
        _assert_error_shape(client.get(url), 401, "second_factor_required")


def test_system_check_names_tasks_that_could_outlive_the_visibility_timeout(settings):
    from lfr_portal.checks import task_time_limits_below_visibility_timeout

    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
    assert task_time_limits_below_visibility_timeout() == []
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 1000}
    errors = task_time_limits_below_visibility_timeout()
    named = " ".join(error.msg for error in errors)
    assert "compliance.tasks.enforce_retention" in named and "1000 s" in named
    assert "matching.tasks.process_frame" not in named
