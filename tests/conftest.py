"""Fixtures shared by the whole suite: one user per role, signed-in clients, the test database's audit switch."""

from __future__ import annotations

import datetime
from collections.abc import Callable

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from compliance.choices import Rank, Role
from compliance.models import User
from compliance.services import accounts as account_services

PASSWORD = "correct-horse-battery-staple"

DEFAULT_RANKS = {
    Role.APPLICANT: Rank.INSPECTOR,
    Role.AUTHORISING_OFFICER: Rank.SUPERINTENDENT,
    Role.WATCHLIST_COMPILER: Rank.SERGEANT,
    Role.LFR_OPERATOR: Rank.CONSTABLE,
    Role.ENGAGEMENT_OFFICER: Rank.CONSTABLE,
    Role.DPO: Rank.STAFF,
    Role.ADMINISTRATOR: Rank.STAFF,
}


@pytest.fixture(autouse=True)
def _test_settings(settings):
    # Argon2 is the production hasher (tested in test_accounts); tests that create many users use a fast one.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Production serves collectstatic's hashed manifest; tests serve the source files without collecting.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Let the test runner TRUNCATE the audit table between transactional tests on the *test* database only."""
    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"ALTER DATABASE {connection.settings_dict['NAME']} SET lfr.audit_test_database = 'on'")
                cursor.execute("SET lfr.audit_test_database = 'on'")
    yield


@pytest.fixture
def make_user(db) -> Callable[..., User]:
    """Create a user through the service, with training for field roles."""
    counter = {"n": 0}

    def _make(role: str, *, username: str | None = None, rank: int | None = None, trained: bool = True) -> User:
        counter["n"] += 1
        user = account_services.user_create(
            actor=None,
            username=username or f"{role}-{counter['n']}",
            password=PASSWORD,
            role=role,
            rank=DEFAULT_RANKS[role] if rank is None else rank,
            first_name=role.replace("_", " ").title(),
            last_name=str(counter["n"]),
            skip_password_validation=True,
        )
        if trained and role in (Role.LFR_OPERATOR, Role.ENGAGEMENT_OFFICER):
            today = timezone.localdate()
            account_services.training_record_add(
                actor=None,
                user=user,
                completed_on=today - datetime.timedelta(days=30),
                expires_on=today + datetime.timedelta(days=335),
            )
        return user

    return _make


@pytest.fixture
def appoint(make_user) -> Callable[..., User]:
    """Give an account a role that takes two Administrators (LFR_APPROVED_ROLES): `by` (default: an Administrator
    made here) proposes, a second Administrator made here approves. Returns the account, refreshed."""
    from compliance.selectors.accounts import pending_appointment
    from compliance.services import appointments as appointment_services

    made: dict[str, User] = {}

    def _appoint(user: User, role: str, *, by: User | None = None) -> User:
        if not made:
            made["proposer"] = make_user(Role.ADMINISTRATOR, username="proposing-admin")
            made["approver"] = make_user(Role.ADMINISTRATOR, username="approving-admin")
        account_services.user_change_role(
            actor=by or made["proposer"], user=user, role=role, appointment_grounds="Posting order (test)"
        )
        appointment_services.appointment_approve(actor=made["approver"], appointment=pending_appointment(user=user))
        user.refresh_from_db()
        return user

    return _appoint


@pytest.fixture
def users(make_user) -> dict[str, User]:
    """One user per role, keyed by role value."""
    return {role: make_user(role, username=role) for role in Role.values}


def verified_client(user: User) -> Client:
    """A test client signed in as `user`, with the second factor satisfied when the role needs one."""
    client = Client()
    client.force_login(user)
    if user.requires_second_factor:
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
            user=user, name="test", confirmed=True
        )
        session = client.session
        session["otp_device_id"] = device.persistent_id
        session.save()
    return client


def api_client_for(user: User) -> APIClient:
    """An API client with the user's verified browser session (session authentication)."""
    client = APIClient()
    client.cookies = verified_client(user).cookies
    return client


@pytest.fixture
def client_for() -> Callable[[User], Client]:
    return verified_client


@pytest.fixture
def api_for() -> Callable[[User], APIClient]:
    return api_client_for
