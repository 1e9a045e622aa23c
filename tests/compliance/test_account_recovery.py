"""Account recovery: an Administrator resets a forgotten password or a lost authenticator, audited, never for
their own account, and never both halves of one recovery its holder has not completed (with both, one Administrator
could sign in as the officer)."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox.models import AuthToken
from rest_framework.test import APIClient

from compliance.models import AuditEvent, User
from compliance.selectors.accounts import pending_appointment
from compliance.services import accounts as account_services
from compliance.services import appointments as appointment_services
from lfr_portal.errors import NotPermitted, RuleViolation
from tests.a11y import missing_described_by_targets
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

TEMPORARY = "Temporary-pass-5518"
CHECKED = "In person at Central, warrant card seen"


def _login(client: Client, username: str, password: str = PASSWORD):
    return client.post(reverse("login"), {"username": username, "password": password})


def _enrolled(user: User) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)


def test_a_forgotten_password_is_replaced_by_a_temporary_one_that_must_be_changed(make_user, client_for):
    admin = make_user("administrator", username="admin")
    officer = make_user("lfr_operator", username="op")
    signed_in = Client()
    _login(signed_in, "op")
    token = account_services.api_token_issue(actor=None, user=officer).token

    response = client_for(admin).post(
        reverse("user_detail", args=[officer.pk]),
        {
            "form": "password",
            "password-password": TEMPORARY,
            "password-password_again": TEMPORARY,
            "password-verified_how": CHECKED,
        },
    )

    assert response.status_code == 302
    officer.refresh_from_db()
    assert officer.must_change_password and officer.check_password(TEMPORARY)
    assert signed_in.get(reverse("home"))["Location"].startswith(reverse("login"))  # signed out everywhere
    assert not AuthToken.objects.filter(user=officer).exists()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/api/v1/me/").status_code == 401
    again = Client()
    _login(again, "op", TEMPORARY)
    assert again.get(reverse("home"))["Location"] == reverse("password_change")
    event = AuditEvent.objects.get(action="account.password_reset")
    assert (event.actor_id, event.target_id) == (admin.pk, str(officer.pk))
    assert event.after["verified_how"] == CHECKED and event.after["api_tokens_revoked"] == 1
    assert TEMPORARY not in str(event.after)
    assert AuditEvent.objects.filter(action="api_token.revoked", target_id=str(officer.pk)).exists()


def test_a_locked_out_officer_signs_in_after_a_reset(make_user, settings):
    admin = make_user("administrator", username="admin")
    make_user("applicant", username="planner")
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "planner", "wrong-password")
    assert _login(client, "planner", PASSWORD).status_code in (403, 429)

    officer = account_services.user_password_reset(
        actor=admin, user=User.objects.get(username="planner"), password=TEMPORARY, verified_how=CHECKED
    )

    assert _login(Client(), "planner", TEMPORARY)["Location"] == reverse("home")
    event = AuditEvent.objects.get(action="account.password_reset", target_id=str(officer.pk))
    assert event.after["failed_sign_ins_cleared"] is True


def test_a_lost_authenticator_is_removed_and_a_new_one_enrolled_after_the_password(make_user, client_for):
    admin = make_user("administrator", username="admin")
    officer = make_user("authorising_officer", username="supt")
    lost = _enrolled(officer)
    page = client_for(admin).get(reverse("user_detail", args=[officer.pk])).content.decode()
    assert "Remove authenticator" in page and "Set temporary password" in page
    assert missing_described_by_targets(page) == []
    ids = re.findall(r'(?<![\w-])id="([^"]+)"', page)
    assert len(ids) == len(set(ids))  # two forms, each with its own "How you checked who asked"

    response = client_for(admin).post(
        reverse("user_detail", args=[officer.pk]), {"form": "second_factor", "second_factor-verified_how": CHECKED}
    )

    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(pk=lost.pk).exists()
    after = client_for(admin).get(reverse("user_detail", args=[officer.pk])).content.decode()
    assert "No authenticator is enrolled" in after and "No authenticator is enrolled" not in page
    client = Client()
    _login(client, "supt")
    assert client.get(reverse("home"))["Location"] == reverse("otp_enrol")  # a new one, after the password
    client.get(reverse("otp_enrol"))
    device = TOTPDevice.objects.get(user=officer)
    assert client.post(reverse("otp_enrol"), {"token": f"{totp(device.bin_key):06d}"})["Location"] == reverse("home")
    event = AuditEvent.objects.get(action="account.2fa_reset")
    assert (event.actor_id, event.before, event.after["verified_how"]) == (admin.pk, {"devices": 1}, CHECKED)


def _reset_password(actor: User, officer: User) -> None:
    account_services.user_password_reset(actor=actor, user=officer, password=TEMPORARY, verified_how=CHECKED)


def _reset_second_factor(actor: User, officer: User) -> None:
    account_services.user_second_factor_reset(actor=actor, user=officer, verified_how=CHECKED)


def _refused(reset, actor: User, officer: User) -> None:
    with pytest.raises(NotPermitted) as refused:
        reset(actor, officer)
    assert refused.value.code == "same_administrator"


def test_the_administrator_who_set_a_pending_password_cannot_remove_the_authenticator(make_user):
    admin, colleague = make_user("administrator", username="admin"), make_user("administrator", username="admin2")
    officer = make_user("dpo", username="dpo")
    _enrolled(officer)
    _reset_password(admin, officer)

    _refused(_reset_second_factor, admin, officer)  # however long they wait: the password is still theirs
    _reset_second_factor(colleague, officer)  # another Administrator may

    _enrolled(officer)
    officer.refresh_from_db()
    account_services.user_password_change(actor=officer, old_password=TEMPORARY, new_password="Only-mine-7731x")
    _reset_second_factor(admin, officer)  # the holder replaced the password: nobody else knows it


def test_the_administrator_who_removed_an_authenticator_cannot_reset_the_password_until_a_new_one(make_user):
    admin, colleague = make_user("administrator", username="admin"), make_user("administrator", username="admin2")
    officer = make_user("authorising_officer", username="supt")
    _enrolled(officer)
    _reset_second_factor(admin, officer)

    _refused(_reset_password, admin, officer)
    _reset_password(colleague, officer)

    device = account_services.totp_enrolment_start(user=officer)
    assert account_services.totp_enrolment_confirm(user=officer, device=device, token=f"{totp(device.bin_key):06d}")
    _reset_password(admin, officer)  # the holder set up a new authenticator, which the Administrator does not hold


def test_an_administrator_set_up_by_the_first_cannot_do_the_other_half(make_user, appoint):
    admin = make_user("administrator", username="admin")
    puppet = account_services.user_create(
        actor=admin,
        username="puppet",
        password="Puppet-pass-5521x",
        role="administrator",
        appointment_grounds="A second Administrator",
    )
    appointment_services.appointment_approve(
        actor=make_user("administrator", username="approver"), appointment=pending_appointment(user=puppet)
    )
    puppet.refresh_from_db()
    promoted = appoint(make_user("applicant", username="promoted"), "administrator", by=admin)
    officer = make_user("dpo", username="dpo")
    _enrolled(officer)
    _reset_password(admin, officer)

    _refused(_reset_second_factor, puppet, officer)
    _refused(_reset_second_factor, promoted, officer)


def test_the_administrator_who_set_up_the_first_cannot_do_the_other_half(make_user, appoint):
    founder = make_user("administrator", username="founder")
    puppet = appoint(make_user("applicant", username="puppet"), "administrator", by=founder)
    officer = make_user("dpo", username="dpo")
    _enrolled(officer)
    _reset_password(puppet, officer)  # the Administrator the founder set up does the first half

    _refused(_reset_second_factor, founder, officer)


def test_changing_the_role_does_not_get_round_the_authenticator(make_user):
    """An Authorising Officer made an Applicant keeps their authenticator, and must still use it: otherwise the
    Administrator who reset the password could sign in as them without the phone, replace the password (which
    ends the pending recovery), restore the role and remove the authenticator."""
    admin = make_user("administrator", username="admin")
    officer = make_user("authorising_officer", username="supt")
    _enrolled(officer)
    officer = account_services.user_change_role(actor=admin, user=officer, role="applicant")
    _reset_password(admin, officer)

    client = Client()
    _login(client, "supt", TEMPORARY)
    assert client.get(reverse("home"))["Location"] == reverse("otp_verify")  # the phone, whatever the role
    assert client.post(
        reverse("password_change"),
        {"old_password": TEMPORARY, "new_password1": "Admin-knows-4471x", "new_password2": "Admin-knows-4471x"},
    )["Location"].startswith(reverse("otp_verify"))
    assert User.objects.get(pk=officer.pk).password_set_by_id == admin.pk
    _refused(_reset_second_factor, admin, User.objects.get(pk=officer.pk))


def test_the_account_page_shows_a_pending_recovery_and_who_holds_it(make_user, client_for):
    admin, colleague = make_user("administrator", username="admin"), make_user("administrator", username="admin2")
    officer = make_user("authorising_officer", username="supt")
    _enrolled(officer)
    _reset_password(admin, officer)
    page = client_for(colleague).get(reverse("user_detail", args=[officer.pk])).content.decode()
    assert "a password set by admin that the officer has not yet replaced" in page
    _reset_second_factor(colleague, User.objects.get(pk=officer.pk))
    page = client_for(admin).get(reverse("user_detail", args=[officer.pk])).content.decode()
    assert "an authenticator removed by admin2" in page


def test_removing_an_authenticator_signs_the_account_out_everywhere(make_user, client_for):
    admin = make_user("administrator", username="admin")
    officer = make_user("authorising_officer", username="supt")
    signed_in = client_for(officer)  # a session the lost phone verified
    assert signed_in.get(reverse("home")).status_code == 200
    other_officer = client_for(make_user("dpo"))

    _reset_second_factor(admin, officer)

    assert signed_in.get(reverse("home"))["Location"].startswith(reverse("login"))  # not to enrolment
    assert signed_in.get(reverse("otp_enrol"))["Location"].startswith(reverse("login"))
    assert other_officer.get(reverse("home")).status_code == 200
    fresh = Client()
    _login(fresh, "supt")
    assert fresh.get(reverse("home"))["Location"] == reverse("otp_enrol")


def test_resets_are_refused_for_ones_own_account_other_roles_and_without_a_check(make_user, client_for):
    admin = make_user("administrator", username="admin")
    officer = make_user("authorising_officer", username="supt")
    _enrolled(officer)
    without = make_user("applicant", username="planner")  # a role that needs no authenticator, and has none

    with pytest.raises(NotPermitted) as own:
        account_services.user_password_reset(actor=admin, user=admin, password=TEMPORARY, verified_how=CHECKED)
    assert own.value.code == "own_account"
    with pytest.raises(NotPermitted):
        account_services.user_second_factor_reset(actor=make_user("dpo"), user=officer, verified_how=CHECKED)
    with pytest.raises(RuleViolation) as unchecked:
        account_services.user_password_reset(actor=admin, user=officer, password=TEMPORARY, verified_how="  ")
    assert "verified_how" in unchecked.value.details
    with pytest.raises(RuleViolation) as weak:
        account_services.user_password_reset(actor=admin, user=officer, password="short", verified_how=CHECKED)
    assert "password" in weak.value.details
    with pytest.raises(RuleViolation) as nothing:
        account_services.user_second_factor_reset(actor=admin, user=without, verified_how=CHECKED)
    assert nothing.value.code == "no_second_factor"
    assert not AuditEvent.objects.filter(action__in=["account.password_reset", "account.2fa_reset"]).exists()
    assert User.objects.get(pk=officer.pk).check_password(PASSWORD)

    own_page = client_for(admin).get(reverse("user_detail", args=[admin.pk])).content.decode()
    assert "another Administrator resets them" in own_page and "Set temporary password" not in own_page
    refused = client_for(admin).post(
        reverse("user_detail", args=[officer.pk]),
        {
            "form": "password",
            "password-password": "short",
            "password-password_again": "short",
            "password-verified_how": CHECKED,
        },
    )
    assert refused.status_code == 200 and "too weak" in refused.content.decode()
    assert missing_described_by_targets(refused.content.decode()) == []
    mistyped = client_for(admin).post(
        reverse("user_detail", args=[officer.pk]),
        {
            "form": "password",
            "password-password": TEMPORARY,
            "password-password_again": TEMPORARY + "x",
            "password-verified_how": CHECKED,
        },
    )
    assert "The two passwords differ." in mistyped.content.decode()
    assert User.objects.get(pk=officer.pk).check_password(PASSWORD)


def test_the_api_resets_a_password_and_an_authenticator(make_user, api_for):
    admin = make_user("administrator", username="admin")
    officer = make_user("authorising_officer", username="supt")
    _enrolled(officer)
    colleague = make_user("administrator", username="admin2")

    done = api_for(admin).post(
        f"/api/v1/users/{officer.pk}/password-reset/", {"password": TEMPORARY, "verified_how": CHECKED}, format="json"
    )
    assert done.status_code == 200 and done.json()["username"] == "supt"
    refused = api_for(admin).post(
        f"/api/v1/users/{officer.pk}/second-factor-reset/", {"verified_how": CHECKED}, format="json"
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "same_administrator"
    removed = api_for(colleague).post(
        f"/api/v1/users/{officer.pk}/second-factor-reset/", {"verified_how": CHECKED}, format="json"
    )
    assert removed.status_code == 200 and removed.json() == {"devices_removed": 1}
    missing = api_for(colleague).post(f"/api/v1/users/{officer.pk}/second-factor-reset/", {}, format="json")
    assert missing.status_code == 400


def test_an_officer_of_any_role_sets_up_a_new_authenticator_after_a_removal(make_user, client_for):
    admin = make_user("administrator", username="admin")
    officer = make_user("applicant", username="planner")  # kept the authenticator of an earlier role
    _enrolled(officer)
    TOTPDevice.objects.create(user=officer, name="half-finished", confirmed=False)
    _reset_second_factor(admin, officer)
    assert not TOTPDevice.objects.filter(user=officer).exists()

    client = Client()
    _login(client, "planner")
    assert client.get(reverse("home"))["Location"] == reverse("otp_enrol")
    client.get(reverse("otp_enrol"))
    device = TOTPDevice.objects.get(user=officer)
    client.post(reverse("otp_enrol"), {"token": f"{totp(device.bin_key):06d}"})
    assert User.objects.get(pk=officer.pk).second_factor_reset_by_id is None
    page = client_for(admin).get(reverse("user_detail", args=[officer.pk])).content.decode()
    assert 'data-testid="pending-second-factor"' not in page


def test_a_half_finished_enrolment_is_not_an_authenticator_to_reset(make_user):
    admin = make_user("administrator", username="admin")
    officer = make_user("applicant", username="planner")  # (an account that must have one: see below)
    TOTPDevice.objects.create(user=officer, name="half-finished", confirmed=False)
    with pytest.raises(RuleViolation) as nothing:
        _reset_second_factor(admin, officer)
    assert nothing.value.code == "no_second_factor"
    assert User.objects.get(pk=officer.pk).second_factor_reset_by_id is None


def test_a_temporary_password_is_kept_exactly_as_typed(make_user, client_for, api_for):
    admin, colleague = make_user("administrator", username="admin"), make_user("administrator", username="admin2")
    officer = make_user("lfr_operator", username="op")
    spaced = "  Spaced-temporary-8812  "
    client_for(admin).post(
        reverse("user_detail", args=[officer.pk]),
        {
            "form": "password",
            "password-password": spaced,
            "password-password_again": spaced,
            "password-verified_how": CHECKED,
        },
    )
    assert User.objects.get(pk=officer.pk).check_password(spaced)
    api_for(colleague).post(
        f"/api/v1/users/{officer.pk}/password-reset/",
        {"password": spaced + "x", "verified_how": CHECKED},
        format="json",
    )
    assert User.objects.get(pk=officer.pk).check_password(spaced + "x")
