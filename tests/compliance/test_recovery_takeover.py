"""One Administrator must not take over an account that signs in with a second factor, nor make such an account
approve their own proposals: resetting the password of one that has no authenticator yet takes two
Administrators, like a lost authenticator, and an Administrator who reset an account's sign-in details or
re-enabled it counts as having set it up (`appointed_by`)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from compliance.models import AuditEvent, User
from compliance.selectors.accounts import pending_appointment
from compliance.services import accounts as account_services
from compliance.services import appointments as appointment_services
from lfr_portal.errors import NotPermitted

pytestmark = pytest.mark.django_db

INITIAL = "Initial-pass-4410x"
TEMPORARY = "Temporary-pass-5518"
CHECKED = "In person at Central, warrant card seen"
GROUNDS = "Posting order 2026/114"


def _created_by(creator: User, username: str, role: str, *, approver: User | None = None) -> User:
    """An account `creator` makes in the portal (their password, not yet replaced), approved by `approver`."""
    user = account_services.user_create(
        actor=creator, username=username, password=INITIAL, role=role, appointment_grounds=GROUNDS
    )
    if approver is not None:
        appointment_services.appointment_approve(actor=approver, appointment=pending_appointment(user=user))
    user.refresh_from_db()
    return user


def _reset_password(actor: User, user: User) -> None:
    account_services.user_password_reset(actor=actor, user=user, password=TEMPORARY, verified_how=CHECKED)


def _reset_second_factor(actor: User, user: User) -> int:
    return account_services.user_second_factor_reset(actor=actor, user=user, verified_how=CHECKED)


def _enrol(user: User) -> None:
    device = account_services.totp_enrolment_start(user=user)
    assert account_services.totp_enrolment_confirm(user=user, device=device, token=f"{totp(device.bin_key):06d}")


@pytest.fixture
def admins(make_user) -> dict[str, User]:
    return {name: make_user("administrator", username=name) for name in ("creator", "approver", "rogue", "colleague")}


@pytest.mark.parametrize("role", ["administrator", "authorising_officer", "dpo"])
def test_one_administrator_cannot_reset_the_password_of_an_account_with_no_authenticator_yet(admins, role):
    """The scenario of the review: P, made and approved by two Administrators, has not signed in; a third resets
    its password alone, signs in as P and enrols their own phone."""
    officer = _created_by(admins["creator"], "p", role, approver=admins["approver"])
    assert officer.role == role and not officer.has_authenticator()

    with pytest.raises(NotPermitted) as refused:
        _reset_password(admins["rogue"], officer)

    assert refused.value.code == "authenticator_reset_first"
    assert "Two Administrators are needed" in refused.value.message
    assert User.objects.get(pk=officer.pk).check_password(INITIAL)
    assert not AuditEvent.objects.filter(action="account.password_reset").exists()
    event = AuditEvent.objects.get(action="account.recovery_refused")
    assert (event.actor_id, event.target_id) == (admins["rogue"].pk, str(officer.pk))
    assert event.after["reset"] == "password" and event.after["code"] == "authenticator_reset_first"
    assert event.after["verified_how"] == CHECKED and TEMPORARY not in str(event.after)


def test_an_account_whose_appointment_to_a_second_factor_role_is_pending_is_refused_too(admins):
    """Before approval the account has no role, but one who enrolled their phone on it then would hold it after."""
    officer = _created_by(admins["creator"], "x", "authorising_officer")
    assert officer.role == "" and pending_appointment(user=officer) is not None

    with pytest.raises(NotPermitted) as refused:
        _reset_password(admins["rogue"], officer)

    assert refused.value.code == "authenticator_reset_first"


def test_a_role_without_a_second_factor_is_reset_by_one_administrator(admins, make_user):
    officer = make_user("lfr_operator", username="op")
    _reset_password(admins["rogue"], officer)
    assert User.objects.get(pk=officer.pk).check_password(TEMPORARY)


def test_another_administrator_resets_the_authenticator_first_and_a_third_sets_the_password(admins):
    officer = _created_by(admins["creator"], "supt", "authorising_officer", approver=admins["approver"])
    TOTPDevice.objects.create(user=officer, name="half-finished", confirmed=False)
    # The creator knows the password still to be replaced: not them.
    with pytest.raises(NotPermitted) as creator:
        _reset_second_factor(admins["creator"], officer)
    assert creator.value.code == "same_administrator"

    assert _reset_second_factor(admins["colleague"], officer) == 0

    officer.refresh_from_db()
    assert officer.second_factor_reset_by_id == admins["colleague"].pk
    assert not TOTPDevice.objects.filter(user=officer).exists()  # the half-finished enrolment went too
    event = AuditEvent.objects.get(action="account.2fa_reset")
    assert (event.actor_id, event.before) == (admins["colleague"].pk, {"devices": 0})
    with pytest.raises(NotPermitted) as same:  # the Administrator who did one half does not do the other
        _reset_password(admins["colleague"], officer)
    assert same.value.code == "same_administrator"
    _reset_password(admins["rogue"], officer)  # (any Administrator outside that link)
    client = Client()
    client.post(reverse("login"), {"username": "supt", "password": TEMPORARY})
    assert client.get(reverse("home"))["Location"] == reverse("otp_enrol")
    refusals = AuditEvent.objects.filter(action="account.recovery_refused").order_by("seq")
    assert [(e.actor_id, e.after["reset"], e.after["code"]) for e in refusals] == [
        (admins["creator"].pk, "second_factor", "same_administrator"),
        (admins["colleague"].pk, "password", "same_administrator"),
    ]


def test_the_account_page_offers_the_authenticator_half_and_says_why(admins, client_for):
    officer = _created_by(admins["creator"], "dpo", "dpo", approver=admins["approver"])
    url = reverse("user_detail", args=[officer.pk])

    refused = client_for(admins["rogue"]).post(
        url,
        {
            "form": "password",
            "password-password": TEMPORARY,
            "password-password_again": TEMPORARY,
            "password-verified_how": CHECKED,
        },
    )
    assert refused.status_code == 200 and "Two Administrators are needed" in refused.content.decode()
    assert User.objects.get(pk=officer.pk).check_password(INITIAL)

    page = client_for(admins["colleague"]).get(url).content.decode()
    assert 'data-testid="second-factor-to-set-up"' in page and "Reset the authenticator</button>" in page
    done = client_for(admins["colleague"]).post(
        url, {"form": "second_factor", "second_factor-verified_how": CHECKED}, follow=True
    )
    assert "Authenticator reset recorded" in done.content.decode()
    assert User.objects.get(pk=officer.pk).second_factor_reset_by_id == admins["colleague"].pk
    after = client_for(admins["colleague"]).get(url).content.decode()
    assert 'data-testid="second-factor-to-set-up"' not in after and 'data-testid="pending-second-factor"' in after


@pytest.mark.parametrize("how", ["password_reset", "second_factor_reset", "re_enabled"])
def test_an_account_an_administrator_recovered_or_re_enabled_never_approves_their_proposal(make_user, how):
    """The puppet: once its password or authenticator is the puppeteer's, the puppet's holder replacing them
    changes nothing on the record: the link stays."""
    puppeteer = make_user("administrator", username="puppeteer")
    outsider = make_user("administrator", username="outsider")
    puppet = make_user("administrator", username="puppet")
    TOTPDevice.objects.create(user=puppet, name="phone", confirmed=True)
    if how == "password_reset":
        _reset_password(puppeteer, puppet)
        account_services.user_password_change(
            actor=User.objects.get(pk=puppet.pk), old_password=TEMPORARY, new_password="Now-theirs-9921x"
        )
    elif how == "second_factor_reset":
        _reset_second_factor(puppeteer, puppet)
        _enrol(User.objects.get(pk=puppet.pk))
    else:
        account_services.user_set_active(actor=outsider, user=puppet, active=False)
        account_services.user_set_active(actor=puppeteer, user=puppet, active=True)
    puppet = User.objects.get(pk=puppet.pk)
    assert not puppet.must_change_password and puppet.second_factor_reset_by_id is None and puppet.is_active
    officer = make_user("applicant", username="officer")
    account_services.user_change_role(
        actor=puppeteer, user=officer, role="authorising_officer", appointment_grounds=GROUNDS
    )
    appointment = pending_appointment(user=officer)

    refusal = appointment_services.approval_refusal(actor=puppet, appointment=appointment)

    assert refusal is not None and refusal.code == "same_administrator"
    with pytest.raises(NotPermitted):
        appointment_services.appointment_approve(actor=puppet, appointment=appointment)
    appointment_services.appointment_approve(actor=outsider, appointment=appointment)
    assert User.objects.get(pk=officer.pk).role == "authorising_officer"


def test_an_administrator_who_reset_an_account_never_approves_its_appointment(make_user):
    resetter = make_user("administrator", username="resetter")
    proposer = make_user("administrator", username="proposer")
    officer = make_user("applicant", username="officer")
    _reset_password(resetter, officer)
    account_services.user_password_change(
        actor=User.objects.get(pk=officer.pk), old_password=TEMPORARY, new_password="Now-theirs-9921x"
    )
    account_services.user_change_role(
        actor=proposer, user=officer, role="authorising_officer", appointment_grounds=GROUNDS
    )

    refusal = appointment_services.approval_refusal(actor=resetter, appointment=pending_appointment(user=officer))

    assert refusal is not None and refusal.code == "same_administrator"
    assert "reset its password or authenticator" in refusal.message


def test_a_linked_administrator_cannot_do_the_other_half_and_the_refusal_is_audited(make_user):
    """The existing rule, through the new link: an Administrator who reset another's password is linked to them."""
    first = make_user("administrator", username="first")
    helper = make_user("administrator", username="helper")
    TOTPDevice.objects.create(user=helper, name="phone", confirmed=True)
    _reset_password(first, helper)  # once, long ago, and replaced since
    account_services.user_password_change(
        actor=User.objects.get(pk=helper.pk), old_password=TEMPORARY, new_password="Now-theirs-9921x"
    )
    officer = make_user("authorising_officer", username="supt")
    TOTPDevice.objects.create(user=officer, name="phone", confirmed=True)
    _reset_password(first, officer)

    with pytest.raises(NotPermitted) as refused:
        _reset_second_factor(User.objects.get(pk=helper.pk), User.objects.get(pk=officer.pk))

    assert refused.value.code == "same_administrator"
    assert TOTPDevice.objects.filter(user=officer, confirmed=True).exists()
    event = AuditEvent.objects.get(action="account.recovery_refused")
    assert (event.actor_id, event.after["reset"], event.after["code"]) == (
        helper.pk,
        "second_factor",
        "same_administrator",
    )
