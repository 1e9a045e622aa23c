"""User API tokens: issuing and revoking them is audited, and they are not managed on the admin site."""

from __future__ import annotations

import io

import pytest
from django.contrib import admin
from django.core.management import call_command
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authtoken.models import Token, TokenProxy

from compliance.audit import verify_chain
from compliance.choices import Role
from compliance.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_issuing_and_resetting_a_user_token_is_audited_without_the_key(make_user):
    operator = make_user(Role.LFR_OPERATOR, username="op1")

    call_command("drf_create_token", "op1", stdout=io.StringIO())
    first = Token.objects.get(user=operator).key
    call_command("drf_create_token", "-r", "op1", stdout=io.StringIO())

    events = list(AuditEvent.objects.filter(action__startswith="api_token.").order_by("seq"))
    assert [e.action for e in events] == ["api_token.issued", "api_token.revoked", "api_token.issued"]
    assert {(e.target_type, e.target_id) for e in events} == {("compliance.user", str(operator.pk))}
    keys = (first, Token.objects.get(user=operator).key)
    assert not any(key in str(e.after) for e in events for key in keys)
    assert verify_chain().ok


def test_credentials_are_not_managed_on_the_admin_site():
    assert TokenProxy not in admin.site._registry and TOTPDevice not in admin.site._registry
