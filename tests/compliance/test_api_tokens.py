"""User API tokens (django-rest-knox): issued on the server, shown once, stored as digests, expiring, audited, and
never managed on the admin site. Tokens DRF stored in clear move to digests and keep working."""

from __future__ import annotations

import datetime
import io

import pytest
from django.apps import apps
from django.contrib import admin
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox.models import AuthToken
from rest_framework.test import APIClient

from compliance.audit import verify_chain
from compliance.choices import Role
from compliance.models import AuditEvent

pytestmark = pytest.mark.django_db


def _me(token: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client.get("/api/v1/me/").status_code


def _issue(username: str) -> str:
    out = io.StringIO()
    call_command("api_token", "issue", username, stdout=out, stderr=io.StringIO())
    return out.getvalue().strip()


def test_a_token_is_shown_once_stored_as_a_digest_and_audited_without_it(make_user):
    operator = make_user(Role.LFR_OPERATOR, username="op1")

    token = _issue("op1")

    assert token.startswith("lfrapi_") and _me(token) == 200
    stored = AuthToken.objects.get(user=operator)
    assert token not in (stored.digest, stored.token_key) and len(stored.digest) == 128
    assert stored.expiry > timezone.now() + datetime.timedelta(days=89)
    listing = io.StringIO()
    call_command("api_token", "list", "op1", stdout=listing)
    assert stored.token_key in listing.getvalue() and token not in listing.getvalue()

    call_command("api_token", "revoke", "op1", stdout=io.StringIO())

    assert _me(token) == 401 and not AuthToken.objects.filter(user=operator).exists()
    events = list(AuditEvent.objects.filter(action__startswith="api_token.").order_by("seq"))
    assert [e.action for e in events] == ["api_token.issued", "api_token.revoked"]
    assert {(e.target_type, e.target_id) for e in events} == {("compliance.user", str(operator.pk))}
    assert not any(token in str(e.after) or token[7:] in str(e.after) for e in events)
    assert verify_chain().ok


def test_an_expired_token_is_refused(make_user):
    make_user(Role.APPLICANT, username="planner")
    token = _issue("planner")
    AuthToken.objects.update(expiry=timezone.now() - datetime.timedelta(seconds=1))
    assert _me(token) == 401


@pytest.mark.parametrize("role", ["authorising_officer", "dpo", "administrator"])
def test_no_token_for_a_role_that_signs_in_with_a_second_factor(make_user, role):
    make_user(role, username="senior")
    with pytest.raises(CommandError, match="second factor"):
        _issue("senior")
    assert not AuthToken.objects.exists()


def test_credentials_are_not_managed_on_the_admin_site():
    assert AuthToken not in admin.site._registry and TOTPDevice not in admin.site._registry


class _Editor:
    """What the migration uses of a schema editor (SQLite's cannot open inside a test's transaction)."""

    connection = connection

    def execute(self, sql: str) -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql)


def test_tokens_drf_stored_in_clear_become_digests_and_keep_working(make_user):
    """The migration from DRF's token table (compliance 0010), on a table made as DRF's migrations made it."""
    operator = make_user(Role.LFR_OPERATOR, username="op-old")
    key = "5b12f09211ec78b0e146dbac47537ff6efbd9a5e"
    with connection.cursor() as cursor:
        # As DRF's migrations made it: an aware column on PostgreSQL; SQLite stores UTC without a zone.
        created_type = "timestamp with time zone" if connection.vendor == "postgresql" else "datetime"
        cursor.execute(
            f"CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created {created_type}, user_id bigint)"
        )
        issued = datetime.datetime(2026, 7, 1, 9, 30, tzinfo=datetime.UTC)  # summer time in London
        stored = issued if connection.vendor == "postgresql" else issued.replace(tzinfo=None)
        cursor.execute("INSERT INTO authtoken_token VALUES (%s, %s, %s)", [key, stored, operator.pk])
    move = __import__("compliance.migrations.0010_user_api_tokens_to_knox", fromlist=["move_drf_tokens"])

    move.move_drf_tokens(apps, _Editor())

    assert "authtoken_token" not in connection.introspection.table_names()
    assert _me(key) == 200
    moved = AuthToken.objects.get(user=operator)
    assert moved.digest != key and moved.token_key == key[:15]
    assert moved.created == issued and moved.expiry > timezone.now()  # its issue date kept; expires from now


def test_a_token_header_that_is_not_utf8_is_refused_not_a_server_error():
    client = APIClient(raise_request_exception=False)
    response = client.get("/api/v1/me/", HTTP_AUTHORIZATION=b"Token \xff\xfe".decode("latin-1"))
    assert response.status_code == 401 and response.json()["error"]["code"] == "authentication_failed"


def test_expired_tokens_are_deleted_on_the_record(make_user, settings):
    """knox deleted an expired token when it was presented, with no audit event: the record showed a token
    issued and never revoked. Presented or not, an expired token now leaves with `api_token.expired`."""
    from compliance.services.accounts import api_tokens_delete_expired
    from compliance.tasks import delete_expired_api_tokens

    planner = make_user(Role.APPLICANT, username="planner")
    operator = make_user(Role.LFR_OPERATOR, username="op1")
    stale, also_stale = _issue("planner"), _issue("planner")
    live = _issue("op1")
    never_presented = _issue("op1")
    past = timezone.now() - datetime.timedelta(seconds=1)
    AuthToken.objects.filter(token_key__in=[stale[:15], also_stale[:15], never_presented[:15]]).update(expiry=past)

    assert _me(stale) == 401  # presented: refused, and both of the planner's expired tokens go
    assert not AuthToken.objects.filter(user=planner).exists()
    event = AuditEvent.objects.get(action="api_token.expired", target_id=str(planner.pk))
    assert event.actor_username == "system"  # the clean-up, not whoever presented the token
    assert event.after["tokens"] == 2 and sorted(event.after["prefixes"]) == sorted([stale[:15], also_stale[:15]])
    assert stale not in str(event.after)

    assert delete_expired_api_tokens() == 1  # the hourly sweep takes the one never presented
    assert list(AuthToken.objects.filter(user=operator).values_list("token_key", flat=True)) == [live[:15]]
    assert AuditEvent.objects.get(action="api_token.expired", target_id=str(operator.pk)).after["tokens"] == 1
    assert api_tokens_delete_expired() == 0 and AuditEvent.objects.filter(action="api_token.expired").count() == 2
    assert _me(live) == 200
    assert settings.CELERY_BEAT_SCHEDULE["delete-expired-api-tokens"]["task"] == delete_expired_api_tokens.name
    assert verify_chain().ok
