"""Accounts: role home pages, the second-factor wall, lock-out, Argon2, audited account changes, seed_demo."""

from __future__ import annotations

import datetime

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from compliance.choices import Rank, Role
from compliance.models import AuditEvent, User
from compliance.services import accounts as account_services
from lfr_portal.errors import NotPermitted, RuleViolation
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

NO_SECOND_FACTOR = [r for r in Role.values if r not in ("authorising_officer", "dpo", "administrator")]


def _login(client: Client, username: str, password: str = PASSWORD):
    return client.post(reverse("login"), {"username": username, "password": password})


@pytest.mark.parametrize("role", NO_SECOND_FACTOR)
def test_each_role_signs_in_to_its_own_home_page(make_user, role):
    user = make_user(role, username=f"u-{role}")
    client = Client()
    response = _login(client, user.username)
    assert response.status_code == 302 and response["Location"] == reverse("home")
    home = client.get(reverse("home"))
    assert home.status_code == 200
    assert str(Role(role).label) in home.content.decode()
    assert f"home/{role}.html" in [t.name for t in home.templates]


@pytest.mark.parametrize("role", ["authorising_officer", "dpo", "administrator"])
def test_second_factor_roles_reach_nothing_before_enrolling(make_user, role):
    user = make_user(role, username=f"u-{role}")
    client = Client()
    _login(client, user.username)
    for path in (reverse("home"), reverse("user_list"), "/api/v1/me/"):
        response = client.get(path)
        if path.startswith("/api/"):
            assert response.status_code == 403
            assert response.json()["error"]["code"] == "second_factor_required"
        else:
            assert response.status_code == 302 and response["Location"] == reverse("otp_enrol")


def test_totp_enrolment_then_verification_at_next_sign_in(make_user):
    officer = make_user("authorising_officer", username="supt")
    client = Client()
    _login(client, "supt")
    assert client.get(reverse("otp_enrol")).status_code == 200
    device = TOTPDevice.objects.get(user=officer)
    wrong = client.post(reverse("otp_enrol"), {"token": "000000" if totp(device.bin_key) else "111111"})
    assert wrong.status_code == 200 and "not valid" in wrong.content.decode()
    device.refresh_from_db()
    device.throttle_reset()  # django-otp throttles retries after a failure; a real user waits a second
    response = client.post(reverse("otp_enrol"), {"token": f"{totp(device.bin_key):06d}"})
    assert response.status_code == 302 and response["Location"] == reverse("home")
    assert client.get(reverse("home")).status_code == 200
    assert AuditEvent.objects.filter(action="account.2fa_enrolled", actor_username="supt").count() == 1

    client.post(reverse("logout"))
    second = Client()
    _login(second, "supt")
    assert second.get(reverse("home"))["Location"] == reverse("otp_verify")
    device.refresh_from_db()
    device.last_t = -1  # allow the same time step again in this test
    device.save()
    ok = second.post(reverse("otp_verify"), {"token": f"{totp(device.bin_key):06d}"})
    assert ok.status_code == 302
    assert second.get(reverse("home")).status_code == 200


def test_repeated_failed_sign_ins_lock_the_account_with_a_clear_message(make_user, settings):
    make_user("applicant", username="planner")
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = _login(client, "planner", "wrong-password")
    locked = _login(client, "planner", PASSWORD)  # even the right password is refused while locked
    assert locked.status_code in (403, 429)
    assert "temporarily locked" in locked.content.decode()
    assert AuditEvent.objects.filter(action="auth.login_failed").count() >= settings.AXES_FAILURE_LIMIT
    assert AuditEvent.objects.filter(action="auth.locked_out", after__username="planner").exists()
    assert response.status_code == 200 or response.status_code in (403, 429)


def test_guessing_the_old_password_on_the_change_page_locks_the_account_and_ends_the_session(make_user, settings):
    """Someone at an unlocked terminal could guess the officer's password without limit on the change page (the
    form checked it without django-axes), then sign in as them after the session ended. A wrong old password now
    counts as a failed sign-in, and the lock-out ends the session."""
    from compliance.models import AuditEvent

    make_user("applicant", username="planner")
    client = Client()
    _login(client, "planner")
    wrong = {
        "old_password": "guess-1",
        "new_password1": "Only-I-know-this-4821",
        "new_password2": "Only-I-know-this-4821",
    }
    for _attempt in range(settings.AXES_FAILURE_LIMIT - 1):
        refused = client.post(reverse("password_change"), wrong)
        assert refused.status_code == 200 and "incorrect" in refused.content.decode()
    assert AuditEvent.objects.filter(action="auth.login_failed", after__username="planner").count() == (
        settings.AXES_FAILURE_LIMIT - 1
    )

    last = client.post(reverse("password_change"), wrong, follow=True)

    assert "Too many wrong passwords" in last.content.decode()
    assert AuditEvent.objects.filter(action="auth.locked_out", after__username="planner").exists()
    assert client.get(reverse("home")).status_code == 302  # signed out
    assert _login(Client(), "planner").status_code in (403, 429)  # locked, even with the right password


def test_sign_in_and_sign_out_are_audited(make_user):
    make_user("applicant", username="planner")
    client = Client()
    _login(client, "planner")
    client.post(reverse("logout"))
    actions = list(AuditEvent.objects.filter(actor_username="planner").values_list("action", flat=True))
    assert "auth.login" in actions and "auth.logout" in actions


def test_passwords_are_hashed_with_argon2(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
    user = account_services.user_create(
        actor=None, username="hashme", password=PASSWORD, role=Role.APPLICANT, skip_password_validation=True
    )
    assert user.password.startswith("argon2")


def test_role_and_rank_changes_are_audited_with_before_and_after(make_user):
    admin = make_user("administrator", username="admin")
    officer = make_user("applicant", username="officer")
    account_services.user_change_role(actor=admin, user=officer, role=Role.WATCHLIST_COMPILER)
    account_services.user_change_rank(actor=admin, user=officer, rank=Rank.SUPERINTENDENT)
    role_event = AuditEvent.objects.get(action="account.role_changed")
    assert role_event.before == {"role": "applicant"} and role_event.after == {"role": "watchlist_compiler"}
    assert role_event.actor_username == "admin"
    rank_event = AuditEvent.objects.get(action="account.rank_changed")
    assert rank_event.before == {"rank": "Inspector"} and rank_event.after == {"rank": "Superintendent"}


def test_an_administrator_cannot_grant_themselves_a_role_or_rank(make_user):
    admin = make_user("administrator", username="admin")
    with pytest.raises(NotPermitted) as refused:
        account_services.user_change_role(actor=admin, user=admin, role=Role.AUTHORISING_OFFICER)
    assert refused.value.code == "own_account"
    with pytest.raises(NotPermitted) as refused:
        account_services.user_change_rank(actor=admin, user=admin, rank=Rank.CHIEF_CONSTABLE)
    assert refused.value.code == "own_account"
    admin.refresh_from_db()
    assert admin.role == Role.ADMINISTRATOR and admin.rank != Rank.CHIEF_CONSTABLE
    assert not AuditEvent.objects.filter(action__in=["account.role_changed", "account.rank_changed"]).exists()
    other = make_user("administrator", username="admin2")
    assert account_services.user_change_role(actor=other, user=admin, role=Role.APPLICANT).role == Role.APPLICANT


@pytest.mark.parametrize("role", [r for r in Role.values if r != "administrator"])
def test_only_administrators_manage_accounts(make_user, role):
    actor = make_user(role, username=f"actor-{role}")
    target = make_user("applicant", username="target")
    with pytest.raises(NotPermitted) as refused:
        account_services.user_change_role(actor=actor, user=target, role=Role.DPO)
    assert refused.value.code == "wrong_role"
    with pytest.raises(NotPermitted) as refused:
        account_services.user_change_rank(actor=actor, user=target, rank=Rank.CHIEF_CONSTABLE)
    assert refused.value.code == "wrong_role"
    with pytest.raises(NotPermitted):
        account_services.training_record_add(
            actor=actor, user=target, completed_on=datetime.date(2026, 1, 1), expires_on=datetime.date(2027, 1, 1)
        )


def test_training_record_must_expire_after_completion(make_user):
    admin = make_user("administrator", username="admin")
    officer = make_user("lfr_operator", username="op", trained=False)
    with pytest.raises(RuleViolation):
        account_services.training_record_add(
            actor=admin, user=officer, completed_on=datetime.date(2026, 1, 1), expires_on=datetime.date(2025, 1, 1)
        )
    assert not officer.has_current_training()


def test_training_currency_follows_expiry(make_user):
    admin = make_user("administrator", username="admin")
    officer = make_user("lfr_operator", username="op", trained=False)
    account_services.training_record_add(
        actor=admin, user=officer, completed_on=datetime.date(2025, 1, 1), expires_on=datetime.date(2026, 1, 1)
    )
    assert officer.has_current_training(datetime.datetime(2025, 6, 1, tzinfo=datetime.UTC))
    assert not officer.has_current_training(datetime.datetime(2026, 6, 1, tzinfo=datetime.UTC))


def test_an_account_edit_is_all_or_nothing_and_saving_ones_own_unchanged_account_works(make_user, client_for):
    admin = make_user("administrator", username="admin")
    officer = make_user("applicant", username="officer")
    # Role changes, then a refused step (an unknown rank): nothing of the edit is kept.
    with pytest.raises(RuleViolation):
        account_services.user_update(actor=admin, user=officer, role=Role.DPO, rank=999)
    officer.refresh_from_db()
    assert officer.role == Role.APPLICANT and not AuditEvent.objects.filter(action="account.role_changed").exists()
    # The page saves role, rank and enabled together; an Administrator may save their own, unchanged account.
    response = client_for(admin).post(
        reverse("user_detail", args=[admin.pk]),
        {"form": "account", "role": admin.role, "rank": admin.rank, "is_active": "on"},
    )
    assert response.status_code == 302
    response = client_for(admin).post(
        reverse("user_detail", args=[admin.pk]), {"form": "account", "role": Role.DPO, "rank": admin.rank}
    )
    assert response.status_code == 200  # refused: own role, and disabling oneself
    admin.refresh_from_db()
    assert admin.role == Role.ADMINISTRATOR and admin.is_active


def test_administrator_pages_create_and_update_accounts(make_user, client_for):
    admin = make_user("administrator", username="admin")
    client = client_for(admin)
    response = client.post(
        reverse("user_create"),
        {"username": "newbie", "role": "lfr_operator", "rank": Rank.CONSTABLE, "password": "short"},
    )
    assert response.status_code == 200 and "password" in response.content.decode().lower()
    assert client.post(reverse("user_create"), {"username": "newbie"}).status_code == 200  # input kept, errors shown
    response = client.post(
        reverse("user_create"),
        {"username": "newbie", "role": "lfr_operator", "rank": Rank.CONSTABLE, "password": "a-long-enough-passphrase"},
    )
    newbie = User.objects.get(username="newbie")
    assert response.status_code == 302
    client.post(
        reverse("user_detail", args=[newbie.pk]),
        {"form": "training", "course": "LFR", "completed_on": "2026-01-01", "expires_on": "2099-01-01"},
    )
    assert newbie.has_current_training()


def test_seed_demo_is_refused_without_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DJANGO_DEBUG=1"):
        call_command("seed_demo")
    assert not User.objects.exists()


def test_seed_demo_creates_one_user_per_role_and_is_repeatable(settings, capsys):
    settings.DEBUG = True
    call_command("seed_demo")
    call_command("seed_demo")
    # Two Administrators: the second approves the appointments the first proposes.
    assert sorted(User.objects.values_list("role", flat=True)) == sorted([*Role.values, Role.ADMINISTRATOR])
    assert "demo-password-2026" in capsys.readouterr().out


def test_security_headers_and_cookie_flags(make_user, settings):
    make_user("applicant", username="planner")
    client = Client()
    page = client.get(reverse("login"))
    assert "default-src 'self'" in page["Content-Security-Policy"]
    assert page["X-Frame-Options"] == "DENY"
    response = _login(client, "planner")
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"] and cookie["secure"]
    assert settings.SESSION_COOKIE_AGE <= 12 * 3600


def test_csrf_is_enforced_on_sign_in(make_user):
    make_user("applicant", username="planner")
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("login"), {"username": "planner", "password": PASSWORD})
    assert response.status_code == 403


def test_officers_see_their_rank_and_training_on_their_profile(make_user, client_for):
    officer = make_user("lfr_operator", username="pc-profile")
    page = client_for(officer).get(reverse("profile")).content.decode()
    assert "Constable" in page and "LFR Operator" in page
    record = officer.training_records.get()
    assert str(record.expires_on.year) in page and "You hold no current LFR training" not in page
    officer.training_records.all().delete()
    page = client_for(officer).get(reverse("profile")).content.decode()
    assert "You hold no current LFR training" in page


def test_training_is_judged_on_the_forces_local_day_not_the_utc_date(settings):
    # 23:30 UTC on 1 July is 00:30 on 2 July in London: a record that expired on 1 July no longer counts.
    from compliance.models import TrainingRecord

    settings.TIME_ZONE = "Europe/London"
    at = datetime.datetime(2025, 7, 1, 23, 30, tzinfo=datetime.UTC)
    assert TrainingRecord.day_of(at) == datetime.date(2025, 7, 2)
    assert TrainingRecord.day_of(datetime.datetime(2025, 12, 1, 23, 30, tzinfo=datetime.UTC)) == datetime.date(
        2025, 12, 1
    )  # GMT: the same day


def test_the_second_step_goes_only_to_a_page_of_this_site_and_is_audited(make_user):
    from django_otp.oath import totp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from compliance.models import AuditEvent

    user = make_user("authorising_officer", username="ao-next")
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    client = Client()
    _login(client, user.username)
    url = reverse("otp_verify") + "?next=https://evil.example/"

    client.post(url, {"token": "000000" if totp(device.bin_key) != 0 else "111111"})
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_count=0)  # django-otp backs off after a miss
    response = client.post(url, {"token": f"{totp(device.bin_key):06d}"})

    assert response.status_code == 302 and response["Location"] == reverse("home")
    actions = list(
        AuditEvent.objects.filter(actor_id=user.pk, action__startswith="auth.second").values_list("action", flat=True)
    )
    assert actions == ["auth.second_factor_failed", "auth.second_factor_verified"]


def test_a_password_an_administrator_set_must_be_replaced_before_anything_else(make_user):
    from compliance.models import AuditEvent
    from compliance.services import accounts as account_services

    admin = make_user("administrator", username="admin-pw")
    user = account_services.user_create(
        actor=admin, username="op-new", password="Initial-pass-9173", role="lfr_operator", rank=0
    )
    assert user.must_change_password
    client = Client()
    _login(client, "op-new", "Initial-pass-9173")

    assert client.get(reverse("home"))["Location"] == reverse("password_change")
    assert client.get("/api/v1/me/").json()["error"]["code"] == "password_change_required"
    weak = client.post(
        reverse("password_change"),
        {"old_password": "Initial-pass-9173", "new_password1": "short", "new_password2": "short"},
    )
    assert weak.status_code == 200 and not AuditEvent.objects.filter(action="account.password_changed").exists()
    done = client.post(
        reverse("password_change"),
        {
            "old_password": "Initial-pass-9173",
            "new_password1": "Only-I-know-this-4821",
            "new_password2": "Only-I-know-this-4821",
        },
    )

    assert done.status_code == 302 and client.get(reverse("home")).status_code == 200  # still signed in
    user.refresh_from_db()
    assert not user.must_change_password and user.check_password("Only-I-know-this-4821")
    event = AuditEvent.objects.get(action="account.password_changed")
    assert event.actor_id == user.pk and "Only-I-know" not in str(event.after)


def test_the_new_password_must_differ_and_a_concurrent_disable_stands(make_user):
    from compliance.models import User
    from compliance.services import accounts as account_services

    admin = make_user("administrator", username="admin-pw2")
    user = account_services.user_create(
        actor=admin, username="op-same", password="Initial-pass-9173", role="lfr_operator"
    )
    client = Client()
    _login(client, "op-same", "Initial-pass-9173")
    same = {
        "old_password": "Initial-pass-9173",
        "new_password1": "Initial-pass-9173",
        "new_password2": "Initial-pass-9173",
    }

    assert "different from the one you have" in client.post(reverse("password_change"), same).content.decode()
    assert User.objects.get(pk=user.pk).must_change_password

    User.objects.filter(pk=user.pk).update(is_active=False)  # an Administrator disables it meanwhile
    account_services.user_password_change(actor=user, old_password="Initial-pass-9173", new_password="Mine-only-5521x")
    assert User.objects.get(pk=user.pk).is_active is False


def test_an_api_token_of_an_account_that_must_change_its_password_is_refused(make_user):
    from rest_framework.test import APIClient

    from compliance.services import accounts as account_services

    admin = make_user("administrator", username="admin-pw3")
    user = account_services.user_create(
        actor=admin, username="op-tok", password="Initial-pass-9173", role="lfr_operator"
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {account_services.api_token_issue(actor=None, user=user).token}")

    response = client.get("/api/v1/me/")

    assert response.status_code == 401 and response.json()["error"]["code"] == "password_change_required"
