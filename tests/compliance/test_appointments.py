"""Appointments to Administrator, Authorising Officer and DPO take two Administrators: one proposes, another
approves, and only then does the account hold the role."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from compliance.choices import AppointmentStatus, Rank, Role
from compliance.models import AuditEvent, RoleAppointment, User
from compliance.permissions import has_role
from compliance.selectors.accounts import pending_appointment
from compliance.services import accounts as account_services
from compliance.services import appointments as appointment_services
from lfr_portal.errors import NotPermitted, RuleViolation
from tests.a11y import missing_described_by_targets
from tests.conftest import api_client_for

pytestmark = pytest.mark.django_db

GROUNDS = "Posting order 2026/114: Superintendent, Operations"


@pytest.fixture
def admins(make_user) -> tuple[User, User]:
    return make_user(Role.ADMINISTRATOR, username="admin"), make_user(Role.ADMINISTRATOR, username="admin2")


def _create_ao(actor: User, username: str = "supt", **kwargs) -> User:
    return account_services.user_create(
        actor=actor,
        username=username,
        password="Supt-pass-5521x",
        role=Role.AUTHORISING_OFFICER,
        rank=Rank.SUPERINTENDENT,
        **{"appointment_grounds": GROUNDS, **kwargs},
    )


def test_one_administrator_cannot_create_an_authorising_officer_alone(admins):
    admin, colleague = admins
    officer = _create_ao(admin)

    officer.refresh_from_db()
    assert officer.role == "" and not has_role(officer, Role.AUTHORISING_OFFICER)
    appointment = pending_appointment(user=officer)
    assert (appointment.role, appointment.proposed_by, appointment.grounds) == (
        Role.AUTHORISING_OFFICER,
        admin,
        GROUNDS,
    )
    proposed = AuditEvent.objects.get(action="account.appointment_proposed")
    assert (proposed.actor_id, proposed.target_id) == (admin.pk, str(officer.pk))
    assert proposed.after == {"appointment": appointment.pk, "role": "authorising_officer", "grounds": GROUNDS}

    with pytest.raises(NotPermitted) as refused:
        appointment_services.appointment_approve(actor=admin, appointment=appointment)
    assert refused.value.code == "own_proposal"
    officer.refresh_from_db()
    assert officer.role == ""

    appointment_services.appointment_approve(actor=colleague, appointment=appointment, note="Checked with HR")

    officer.refresh_from_db()
    assert officer.role == Role.AUTHORISING_OFFICER
    appointment.refresh_from_db()
    assert (appointment.status, appointment.decided_by, appointment.decision_note) == (
        AppointmentStatus.APPROVED,
        colleague,
        "Checked with HR",
    )
    approved = AuditEvent.objects.get(action="account.appointment_approved")
    assert approved.actor_id == colleague.pk and approved.before == {"role": ""}
    assert approved.after["role"] == "authorising_officer" and approved.after["proposed_by"] == "admin"


def test_an_administrator_cannot_mint_a_second_administrator_to_approve_their_proposals(admins):
    """The sock puppet: without a second real Administrator, the puppet holds no role and can approve nothing."""
    admin, colleague = admins
    puppet = account_services.user_create(
        actor=admin, username="puppet", password="Puppet-pass-5521x", role=Role.ADMINISTRATOR, appointment_grounds="x"
    )
    officer = _create_ao(admin)
    with pytest.raises(NotPermitted) as refused:
        appointment_services.appointment_approve(actor=puppet, appointment=pending_appointment(user=officer))
    assert refused.value.code == "wrong_role"

    # Even once a colleague approves the puppet, the Administrator who set it up and it never approve each other.
    appointment_services.appointment_approve(actor=colleague, appointment=pending_appointment(user=puppet))
    puppet.refresh_from_db()
    with pytest.raises(NotPermitted) as refused:
        appointment_services.appointment_approve(actor=puppet, appointment=pending_appointment(user=officer))
    assert refused.value.code == "same_administrator"
    assert User.objects.get(pk=officer.pk).role == ""


def test_nobody_approves_their_own_appointment(admins, make_user):
    admin, colleague = admins
    third = make_user(Role.ADMINISTRATOR, username="admin3")
    account_services.user_change_role(actor=admin, user=colleague, role=Role.DPO, appointment_grounds=GROUNDS)
    with pytest.raises(NotPermitted) as refused:
        appointment_services.appointment_approve(actor=colleague, appointment=pending_appointment(user=colleague))
    assert refused.value.code == "own_account"
    with pytest.raises(NotPermitted):
        appointment_services.appointment_reject(
            actor=colleague, appointment=pending_appointment(user=colleague), note="No"
        )
    appointment_services.appointment_approve(actor=third, appointment=pending_appointment(user=colleague))
    assert User.objects.get(pk=colleague.pk).role == Role.DPO


def test_grounds_are_required_and_a_refusal_creates_nothing(admins):
    admin, _colleague = admins
    events = AuditEvent.objects.count()
    with pytest.raises(RuleViolation) as refused:
        _create_ao(admin, appointment_grounds="   ")
    assert "appointment_grounds" in refused.value.details
    assert not User.objects.filter(username="supt").exists()
    assert AuditEvent.objects.count() == events


def test_a_role_change_waits_for_approval_and_the_account_keeps_its_role(admins, make_user):
    admin, colleague = admins
    officer = make_user(Role.APPLICANT, username="planner", rank=Rank.SUPERINTENDENT)

    changed = account_services.user_change_role(
        actor=admin, user=officer, role=Role.AUTHORISING_OFFICER, appointment_grounds=GROUNDS
    )

    assert changed.role == Role.APPLICANT and User.objects.get(pk=officer.pk).role == Role.APPLICANT
    assert not AuditEvent.objects.filter(action="account.role_changed").exists()
    with pytest.raises(RuleViolation) as refused:  # no other change while one is pending
        account_services.user_change_role(actor=admin, user=officer, role=Role.WATCHLIST_COMPILER)
    assert refused.value.code == "appointment_pending"
    with pytest.raises(RuleViolation) as refused:
        account_services.user_change_role(actor=colleague, user=officer, role=Role.DPO, appointment_grounds=GROUNDS)
    assert refused.value.code == "appointment_pending"

    appointment_services.appointment_approve(actor=colleague, appointment=pending_appointment(user=officer))
    assert User.objects.get(pk=officer.pk).role == Role.AUTHORISING_OFFICER
    # Taking a role away needs no second Administrator.
    demoted = account_services.user_change_role(actor=admin, user=officer, role=Role.APPLICANT)
    assert demoted.role == Role.APPLICANT


def test_other_roles_are_granted_at_once(admins):
    admin, _colleague = admins
    operator = account_services.user_create(
        actor=admin, username="op", password="Operator-pass-5521x", role=Role.LFR_OPERATOR
    )
    assert operator.role == Role.LFR_OPERATOR and not RoleAppointment.objects.exists()


def test_the_approved_roles_are_a_setting(admins, settings):
    admin, _colleague = admins
    settings.LFR_APPROVED_ROLES = ["administrator", "watchlist_compiler"]
    officer = _create_ao(admin, appointment_grounds="")
    assert officer.role == Role.AUTHORISING_OFFICER and pending_appointment(user=officer) is None
    compiler = account_services.user_create(
        actor=admin, username="compiler", password="Compiler-pass-5521x", role=Role.WATCHLIST_COMPILER,
        appointment_grounds=GROUNDS,
    )  # fmt: skip
    assert compiler.role == "" and pending_appointment(user=compiler).role == Role.WATCHLIST_COMPILER


def test_a_misspelt_role_in_the_settings_stops_start_up(settings):
    from lfr_portal.checks import role_settings_name_known_roles

    assert role_settings_name_known_roles() == []
    settings.LFR_APPROVED_ROLES = ["administrator", "authorizing_officer"]
    errors = role_settings_name_known_roles()
    assert [e.id for e in errors] == ["lfr.E002"] and "authorizing_officer" in errors[0].msg
    settings.LFR_APPROVED_ROLES = ["administrator"]
    settings.LFR_SECOND_FACTOR_ROLES = ["administrator", "dpo"]  # an AO without a second factor: domain.md 1
    assert [e.id for e in role_settings_name_known_roles()] == ["lfr.E003"]
    settings.LFR_SECOND_FACTOR_ROLES = ["administrator", "dpo", "authorising_officer"]
    settings.LFR_APPROVED_ROLES = []  # the two-Administrator rule switched off: allowed, but said
    assert [e.id for e in role_settings_name_known_roles()] == ["lfr.W004"]


def test_a_rejection_says_why_and_a_proposer_withdraws(admins, make_user):
    admin, colleague = admins
    officer = _create_ao(admin)
    appointment = pending_appointment(user=officer)
    with pytest.raises(RuleViolation):
        appointment_services.appointment_reject(actor=colleague, appointment=appointment, note=" ")
    with pytest.raises(NotPermitted) as refused:
        appointment_services.appointment_reject(actor=admin, appointment=appointment, note="Mine")
    assert refused.value.code == "own_proposal"
    appointment_services.appointment_reject(actor=colleague, appointment=appointment, note="No posting order on file")
    assert User.objects.get(pk=officer.pk).role == ""
    event = AuditEvent.objects.get(action="account.appointment_rejected")
    assert (event.actor_id, event.after["note"]) == (colleague.pk, "No posting order on file")
    with pytest.raises(RuleViolation) as refused:  # decided once
        appointment_services.appointment_approve(actor=make_user(Role.ADMINISTRATOR), appointment=appointment)
    assert refused.value.code == "appointment_decided"

    # Proposed again; only the proposer withdraws it.
    account_services.user_change_role(actor=admin, user=officer, role=Role.DPO, appointment_grounds=GROUNDS)
    again = pending_appointment(user=officer)
    with pytest.raises(NotPermitted) as refused:
        appointment_services.appointment_withdraw(actor=colleague, appointment=again)
    assert refused.value.code == "not_proposer"
    appointment_services.appointment_withdraw(actor=admin, appointment=again)
    assert pending_appointment(user=officer) is None
    assert AuditEvent.objects.filter(action="account.appointment_withdrawn", actor_id=admin.pk).exists()
    assert [a.status for a in officer.appointments.order_by("pk")] == ["rejected", "withdrawn"]


def test_the_pages_propose_show_and_approve_an_appointment(admins, client_for):
    admin, colleague = admins
    created = client_for(admin).post(
        reverse("user_create"),
        {
            "username": "supt",
            "role": Role.AUTHORISING_OFFICER,
            "rank": Rank.SUPERINTENDENT,
            "appointment_grounds": GROUNDS,
            "password": "Supt-pass-5521x",
        },
        follow=True,
    )
    page = created.content.decode()
    assert "Account supt created. The appointment as Authorising Officer is proposed" in page
    assert "Withdraw the appointment" in page and "Approve the appointment" not in page
    officer = User.objects.get(username="supt")

    home = client_for(colleague).get(reverse("home")).content.decode()
    assert "Appointments awaiting your approval" in home
    assert reverse("user_detail", args=[officer.pk]) in home
    assert "Appointments awaiting your approval" not in client_for(admin).get(reverse("home")).content.decode()
    detail = client_for(colleague).get(reverse("user_detail", args=[officer.pk])).content.decode()
    assert "Approve the appointment" in detail and GROUNDS in detail and "Withdraw" not in detail
    assert missing_described_by_targets(detail) == []
    ids = re.findall(r'(?<![\w-])id="([^"]+)"', detail)
    assert len(ids) == len(set(ids))
    listing = client_for(colleague).get(reverse("user_list")).content.decode()
    assert "proposed: Authorising Officer" in listing

    assert "never" in detail and "set by admin, not yet replaced by its holder" in detail  # who can sign in as it
    response = client_for(colleague).post(
        reverse("appointment_decide", args=[officer.pk, "approve"]),
        {"appointment-appointment": pending_appointment(user=officer).pk, "appointment-note": "HR confirmed"},
        follow=True,
    )

    assert "Appointment approved: supt is now Authorising Officer." in response.content.decode()
    assert User.objects.get(pk=officer.pk).role == Role.AUTHORISING_OFFICER


def test_the_role_form_of_an_account_without_a_role_keeps_it_without_one(admins, client_for):
    admin, colleague = admins
    officer = _create_ao(admin)
    page = client_for(colleague).get(reverse("user_detail", args=[officer.pk])).content.decode()
    assert "— no role —" in page

    response = client_for(colleague).post(
        reverse("user_detail", args=[officer.pk]),
        {"form": "account", "role": "", "rank": Rank.CHIEF_SUPERINTENDENT, "is_active": "on"},
        follow=True,
    )

    messages = [str(m) for m in response.context["messages"]]
    assert messages == ["Account updated."]  # the appointment was already pending: not news
    officer.refresh_from_db()
    assert (officer.role, officer.rank) == ("", Rank.CHIEF_SUPERINTENDENT)
    assert pending_appointment(user=officer) is not None


def test_a_rejection_without_a_note_is_refused_with_the_reason(admins, client_for):
    admin, colleague = admins
    officer = _create_ao(admin)
    response = client_for(colleague).post(
        reverse("appointment_decide", args=[officer.pk, "reject"]),
        {"appointment-appointment": pending_appointment(user=officer).pk, "appointment-note": ""},
        follow=True,
    )
    assert "Say why the appointment is rejected." in response.content.decode()
    assert pending_appointment(user=officer) is not None


def test_a_page_left_open_never_approves_an_appointment_proposed_since(admins, client_for):
    """The proposer withdraws the appointment the approver's page shows and proposes another role: the approver's
    click must not approve what they never saw."""
    admin, colleague = admins
    officer = _create_ao(admin)
    shown = pending_appointment(user=officer)
    appointment_services.appointment_withdraw(actor=admin, appointment=shown)
    account_services.user_change_role(actor=admin, user=officer, role=Role.ADMINISTRATOR, appointment_grounds="x")

    response = client_for(colleague).post(
        reverse("appointment_decide", args=[officer.pk, "approve"]),
        {"appointment-appointment": shown.pk, "appointment-note": "ok"},
        follow=True,
    )

    assert "no longer awaiting approval (withdrawn)" in response.content.decode()
    assert User.objects.get(pk=officer.pk).role == ""
    assert pending_appointment(user=officer).role == Role.ADMINISTRATOR
    other = client_for(colleague).post(
        reverse("appointment_decide", args=[officer.pk, "approve"]),
        {"appointment-appointment": RoleAppointment.objects.order_by("pk").last().pk + 1},
        follow=True,
    )
    assert "no such appointment" in other.content.decode()
    unknown = client_for(colleague).post(reverse("appointment_decide", args=[officer.pk, "promote"]), {})
    assert unknown.status_code == 404


def test_the_administrator_who_created_the_account_cannot_approve_its_appointment(admins, make_user, client_for):
    """They chose its first password: with their approval, one person could hold an Authorising Officer."""
    admin, colleague = admins
    officer = account_services.user_create(
        actor=colleague, username="officer", password="Officer-pass-5521x", role=Role.APPLICANT
    )
    account_services.user_change_role(
        actor=admin, user=officer, role=Role.AUTHORISING_OFFICER, appointment_grounds=GROUNDS
    )
    appointment = pending_appointment(user=officer)

    with pytest.raises(NotPermitted) as refused:
        appointment_services.appointment_approve(actor=colleague, appointment=appointment)
    assert refused.value.code == "same_administrator"
    page = client_for(colleague).get(reverse("user_detail", args=[officer.pk])).content.decode()
    assert "You cannot approve it:" in page and "Approve the appointment" not in page
    assert "Appointments awaiting your approval" not in client_for(colleague).get(reverse("home")).content.decode()
    appointment_services.appointment_approve(actor=make_user(Role.ADMINISTRATOR), appointment=appointment)


def test_the_administrator_the_proposer_was_set_up_by_cannot_approve(admins, make_user, appoint):
    founder, colleague = admins
    newcomer = appoint(make_user(Role.APPLICANT, username="newcomer"), Role.ADMINISTRATOR, by=founder)
    officer = make_user(Role.APPLICANT, username="officer")
    account_services.user_change_role(actor=newcomer, user=officer, role=Role.DPO, appointment_grounds=GROUNDS)
    with pytest.raises(NotPermitted) as refused:
        appointment_services.appointment_approve(actor=founder, appointment=pending_appointment(user=officer))
    assert refused.value.code == "same_administrator"
    appointment_services.appointment_approve(actor=colleague, appointment=pending_appointment(user=officer))


def test_a_proposal_dies_with_its_proposers_administrator_role(admins, make_user):
    admin, colleague = admins
    officer = _create_ao(admin)
    account_services.user_set_active(actor=colleague, user=admin, active=False)
    with pytest.raises(NotPermitted) as refused:
        appointment_services.appointment_approve(actor=colleague, appointment=pending_appointment(user=officer))
    assert refused.value.code == "proposer_not_administrator"
    appointment_services.appointment_reject(
        actor=colleague, appointment=pending_appointment(user=officer), note="Proposer left"
    )


def test_an_account_awaiting_its_appointment_is_told_on_its_home_page(admins, client_for):
    admin, _colleague = admins
    officer = _create_ao(admin)
    User.objects.filter(pk=officer.pk).update(must_change_password=False)  # replaced at first sign-in
    page = client_for(officer).get(reverse("home")).content.decode()
    assert "Your appointment as Authorising Officer awaits a second Administrator" in page
    assert "No role" in client_for(officer).get(reverse("profile")).content.decode()
    assert api_client_for(officer).get("/api/v1/me/").json()["role"] == ""
    assert account_services.api_token_issue(actor=None, user=officer).token  # no role, no second factor needed
    TOTPDevice.objects.create(user=officer, name="Authenticator app", confirmed=True)
    with pytest.raises(RuleViolation, match="No role accounts sign in with a second factor"):
        account_services.api_token_issue(actor=None, user=officer)


def test_the_api_proposes_lists_and_decides_appointments(admins, make_user):
    admin, colleague = admins
    refused = api_client_for(admin).post(
        "/api/v1/users/",
        {"username": "supt", "password": "Supt-pass-5521x", "role": "authorising_officer", "rank": 50},
        format="json",
    )
    assert refused.status_code == 400 and "appointment_grounds" in refused.json()["error"]["details"]

    created = api_client_for(admin).post(
        "/api/v1/users/",
        {
            "username": "supt",
            "password": "Supt-pass-5521x",
            "role": "authorising_officer",
            "rank": 50,
            "appointment_grounds": GROUNDS,
        },
        format="json",
    )
    assert created.status_code == 201
    body = created.json()
    assert body["role"] == "" and body["pending_appointment"]["role"] == "authorising_officer"
    appointment_id = body["pending_appointment"]["id"]

    listed = api_client_for(colleague).get("/api/v1/appointments/?status=pending").json()
    assert [a["id"] for a in listed["results"]] == [appointment_id]
    own = api_client_for(admin).post(f"/api/v1/appointments/{appointment_id}/approve/", {}, format="json")
    assert own.status_code == 403 and own.json()["error"]["code"] == "own_proposal"
    approved = api_client_for(colleague).post(
        f"/api/v1/appointments/{appointment_id}/approve/", {"note": "HR confirmed"}, format="json"
    )
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert approved.json()["decided_by"] == "admin2"
    assert api_client_for(admin).get(f"/api/v1/users/{body['id']}/").json()["role"] == "authorising_officer"
    assert api_client_for(make_user(Role.DPO)).get("/api/v1/appointments/").status_code == 403

    officer = make_user(Role.APPLICANT, username="planner")
    no_grounds = api_client_for(admin).patch(f"/api/v1/users/{officer.pk}/", {"role": "dpo"}, format="json")
    assert no_grounds.status_code == 400 and "appointment_grounds" in no_grounds.json()["error"]["details"]
    proposed = api_client_for(admin).patch(
        f"/api/v1/users/{officer.pk}/", {"role": "dpo", "rank": 30, "appointment_grounds": GROUNDS}, format="json"
    )
    assert proposed.status_code == 200
    assert (proposed.json()["role"], proposed.json()["rank"]) == ("applicant", 30)
    assert proposed.json()["pending_appointment"]["role"] == "dpo"
    again = api_client_for(admin).patch(f"/api/v1/users/{officer.pk}/", {"role": "lfr_operator"}, format="json")
    assert again.status_code == 400 and again.json()["error"]["code"] == "appointment_pending"


def test_create_administrator_makes_the_first_administrators_from_the_command_line(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("First-admin-pass-5521x\n"))
    out = io.StringIO()
    call_command("create_administrator", "founder", "--password-stdin", "--first-name", "Ada", stdout=out)

    founder = User.objects.get(username="founder")
    assert founder.role == Role.ADMINISTRATOR and founder.check_password("First-admin-pass-5521x")
    assert founder.must_change_password and founder.requires_second_factor  # whoever ran it knows the password
    assert "only Administrator" in out.getvalue()
    event = AuditEvent.objects.get(action="account.created", target_id=str(founder.pk))
    assert event.actor_id is None and event.after["role"] == "administrator"

    monkeypatch.setattr("sys.stdin", io.StringIO("Second-admin-pass-5521x\n"))
    out = io.StringIO()
    call_command("create_administrator", "second", "--password-stdin", stdout=out)
    assert "only Administrator" not in out.getvalue()

    with pytest.raises(CommandError, match="taken"):
        call_command("create_administrator", "founder", "--password-stdin")
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    with pytest.raises(CommandError, match="too weak"):
        call_command("create_administrator", "weak", "--password-stdin")
    assert not User.objects.filter(username="weak").exists()
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with pytest.raises(CommandError, match="--password-stdin"):
        call_command("create_administrator", "noterminal")


def test_the_create_form_asks_for_grounds_and_keeps_what_was_typed(admins, client_for):
    admin, _colleague = admins
    response = client_for(admin).post(
        reverse("user_create"),
        {"username": "supt", "role": Role.DPO, "rank": Rank.STAFF, "password": "Supt-pass-5521x"},
    )
    page = response.content.decode()
    assert response.status_code == 200 and "Required for this role." in page
    assert 'value="supt"' in page and not User.objects.filter(username="supt").exists()
