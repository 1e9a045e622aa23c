"""A rank rise that would let an Authorising Officer authorise deployments takes two Administrators, like the
appointment itself: otherwise one Administrator could have a below-rank AO approved (harmless) and then raise the
rank alone."""

from __future__ import annotations

import pytest
from django.urls import reverse

from compliance.choices import AppointmentStatus, Rank, Role
from compliance.models import AuditEvent, RoleAppointment, User
from compliance.permissions import has_authorising_rank, require_authorising_rank
from compliance.selectors.accounts import pending_appointment
from compliance.services import accounts as account_services
from compliance.services import appointments as appointment_services
from lfr_portal.errors import NotPermitted, RuleViolation
from tests.conftest import api_client_for

pytestmark = pytest.mark.django_db

GROUNDS = "Promotion order 2026/031: Superintendent, Operations"


@pytest.fixture
def admins(make_user) -> tuple[User, User]:
    return make_user(Role.ADMINISTRATOR, username="admin"), make_user(Role.ADMINISTRATOR, username="admin2")


def _ao_below_rank(proposer: User, approver: User, username: str = "chinsp") -> User:
    """An Authorising Officer at Chief Inspector, appointed by two Administrators: harmless, they cannot authorise."""
    officer = account_services.user_create(
        actor=proposer,
        username=username,
        password="Chinsp-pass-5521x",
        role=Role.AUTHORISING_OFFICER,
        rank=Rank.CHIEF_INSPECTOR,
        appointment_grounds="Posting order 2026/114",
    )
    appointment_services.appointment_approve(actor=approver, appointment=pending_appointment(user=officer))
    officer.refresh_from_db()
    assert officer.role == Role.AUTHORISING_OFFICER and not has_authorising_rank(officer)
    return officer


def test_one_administrator_cannot_raise_an_authorising_officer_to_the_authorising_rank(admins):
    admin, colleague = admins
    officer = _ao_below_rank(admin, colleague)

    with pytest.raises(RuleViolation) as refused:  # the grounds are required, as for an appointment
        account_services.user_change_rank(actor=admin, user=officer, rank=Rank.SUPERINTENDENT)
    assert "appointment_grounds" in refused.value.details
    assert not RoleAppointment.objects.filter(status=AppointmentStatus.PENDING).exists()

    changed = account_services.user_change_rank(
        actor=admin, user=officer, rank=Rank.SUPERINTENDENT, appointment_grounds=GROUNDS
    )

    officer.refresh_from_db()
    assert changed.rank == officer.rank == Rank.CHIEF_INSPECTOR
    with pytest.raises(NotPermitted) as cannot:
        require_authorising_rank(officer)
    assert cannot.value.code == "rank_too_low"
    assert not AuditEvent.objects.filter(action="account.rank_changed").exists()
    appointment = pending_appointment(user=officer)
    assert (appointment.role, appointment.previous_role, appointment.rank, appointment.proposed_by) == (
        Role.AUTHORISING_OFFICER,
        Role.AUTHORISING_OFFICER,
        Rank.SUPERINTENDENT,
        admin,
    )
    proposed = AuditEvent.objects.filter(action="account.appointment_proposed").order_by("seq").last()
    assert (proposed.actor_id, proposed.target_id) == (admin.pk, str(officer.pk))
    assert proposed.before == {"role": "authorising_officer", "rank": "Chief Inspector"}
    assert proposed.after == {
        "appointment": appointment.pk,
        "role": "authorising_officer",
        "rank": "Superintendent",
        "grounds": GROUNDS,
    }

    with pytest.raises(NotPermitted) as refused:
        appointment_services.appointment_approve(actor=admin, appointment=appointment)
    assert refused.value.code == "own_proposal"
    assert User.objects.get(pk=officer.pk).rank == Rank.CHIEF_INSPECTOR

    appointment_services.appointment_approve(actor=colleague, appointment=appointment, note="Promotion confirmed")

    officer.refresh_from_db()
    assert (officer.role, officer.rank) == (Role.AUTHORISING_OFFICER, Rank.SUPERINTENDENT)
    require_authorising_rank(officer)
    approved = AuditEvent.objects.filter(action="account.appointment_approved").order_by("seq").last()
    assert approved.actor_id == colleague.pk
    assert approved.before == {"role": "authorising_officer", "rank": "Chief Inspector"}
    assert approved.after["rank"] == "Superintendent" and approved.after["proposed_by"] == "admin"


def test_the_administrator_who_created_the_account_cannot_approve_its_rank_rise(admins, make_user):
    admin, colleague = admins
    third = make_user(Role.ADMINISTRATOR, username="admin3")
    officer = _ao_below_rank(admin, colleague)
    account_services.user_change_rank(
        actor=colleague, user=officer, rank=Rank.SUPERINTENDENT, appointment_grounds=GROUNDS
    )
    appointment = pending_appointment(user=officer)

    with pytest.raises(NotPermitted) as refused:  # they chose its first password
        appointment_services.appointment_approve(actor=admin, appointment=appointment)
    assert refused.value.code == "same_administrator"
    with pytest.raises(NotPermitted) as refused:
        appointment_services.appointment_approve(actor=officer, appointment=appointment)
    assert refused.value.code == "wrong_role"

    appointment_services.appointment_approve(actor=third, appointment=appointment)
    assert User.objects.get(pk=officer.pk).rank == Rank.SUPERINTENDENT


def test_a_rejected_or_withdrawn_rank_rise_leaves_the_rank(admins):
    admin, colleague = admins
    officer = _ao_below_rank(admin, colleague)
    account_services.user_change_rank(actor=admin, user=officer, rank=Rank.SUPERINTENDENT, appointment_grounds="x")
    appointment_services.appointment_reject(
        actor=colleague, appointment=pending_appointment(user=officer), note="No promotion on file"
    )
    assert User.objects.get(pk=officer.pk).rank == Rank.CHIEF_INSPECTOR

    account_services.user_change_rank(actor=admin, user=officer, rank=Rank.COMMANDER, appointment_grounds=GROUNDS)
    appointment_services.appointment_withdraw(actor=admin, appointment=pending_appointment(user=officer))
    assert User.objects.get(pk=officer.pk).rank == Rank.CHIEF_INSPECTOR
    assert [a.status for a in officer.appointments.filter(rank__isnull=False).order_by("pk")] == [
        AppointmentStatus.REJECTED,
        AppointmentStatus.WITHDRAWN,
    ]


def test_lowering_a_rank_and_changes_that_cross_no_threshold_stay_immediate(admins, make_user):
    admin, colleague = admins
    officer = _ao_below_rank(admin, colleague)
    assert account_services.user_change_rank(actor=admin, user=officer, rank=Rank.INSPECTOR).rank == Rank.INSPECTOR

    authorising = make_user(Role.AUTHORISING_OFFICER, username="supt", rank=Rank.SUPERINTENDENT)
    raised = account_services.user_change_rank(actor=admin, user=authorising, rank=Rank.CHIEF_SUPERINTENDENT)
    assert raised.rank == Rank.CHIEF_SUPERINTENDENT  # it already authorises: no new power
    lowered = account_services.user_change_rank(actor=admin, user=authorising, rank=Rank.CHIEF_INSPECTOR)
    assert lowered.rank == Rank.CHIEF_INSPECTOR and not has_authorising_rank(lowered)

    planner = make_user(Role.APPLICANT, username="planner", rank=Rank.CHIEF_INSPECTOR)
    promoted = account_services.user_change_rank(actor=admin, user=planner, rank=Rank.SUPERINTENDENT)
    assert promoted.rank == Rank.SUPERINTENDENT  # an Applicant authorises nothing at any rank

    assert not RoleAppointment.objects.filter(status=AppointmentStatus.PENDING).exists()
    changes = AuditEvent.objects.filter(action="account.rank_changed").order_by("seq")
    assert [(e.before["rank"], e.after["rank"]) for e in changes] == [
        ("Chief Inspector", "Inspector"),
        ("Superintendent", "Chief Superintendent"),
        ("Chief Superintendent", "Chief Inspector"),
        ("Chief Inspector", "Superintendent"),
    ]


def test_a_rank_rise_is_refused_while_another_appointment_is_pending(admins, make_user):
    admin, colleague = admins
    planner = make_user(Role.APPLICANT, username="planner", rank=Rank.CHIEF_INSPECTOR)
    account_services.user_change_role(
        actor=admin, user=planner, role=Role.AUTHORISING_OFFICER, appointment_grounds="Posting order"
    )
    with pytest.raises(RuleViolation) as refused:  # the approver decides on the rank shown to them
        account_services.user_change_rank(
            actor=colleague, user=planner, rank=Rank.SUPERINTENDENT, appointment_grounds=GROUNDS
        )
    assert refused.value.code == "appointment_pending"
    assert User.objects.get(pk=planner.pk).rank == Rank.CHIEF_INSPECTOR

    newcomer = account_services.user_create(
        actor=admin, username="newcomer", password="Newcomer-pass-5521x", role=Role.AUTHORISING_OFFICER,
        rank=Rank.INSPECTOR, appointment_grounds="Posting order",
    )  # fmt: skip
    with pytest.raises(RuleViolation) as refused:  # no role yet, its appointment pending: refused, not a crash
        account_services.user_change_rank(actor=colleague, user=newcomer, rank=Rank.SUPERINTENDENT)
    assert refused.value.code == "appointment_pending"

    officer = _ao_below_rank(admin, colleague, username="ao")
    account_services.user_change_rank(actor=admin, user=officer, rank=Rank.SUPERINTENDENT, appointment_grounds=GROUNDS)
    for change in (
        lambda: account_services.user_change_rank(actor=colleague, user=officer, rank=Rank.INSPECTOR),
        lambda: account_services.user_change_rank(
            actor=colleague, user=officer, rank=Rank.CHIEF_CONSTABLE, appointment_grounds=GROUNDS
        ),
        lambda: account_services.user_change_role(actor=colleague, user=officer, role=Role.APPLICANT),
    ):
        with pytest.raises(RuleViolation) as refused:  # the rank under decision stays the one proposed
            change()
        assert refused.value.code == "appointment_pending"
    assert User.objects.get(pk=officer.pk).rank == Rank.CHIEF_INSPECTOR
    assert pending_appointment(user=officer).rank == Rank.SUPERINTENDENT


def test_a_role_proposal_carries_the_rank_rise_that_makes_it_authorise(admins, make_user):
    admin, colleague = admins
    planner = make_user(Role.APPLICANT, username="planner", rank=Rank.CHIEF_INSPECTOR)

    account_services.user_update(
        actor=admin, user=planner, role=Role.AUTHORISING_OFFICER, rank=Rank.SUPERINTENDENT, appointment_grounds=GROUNDS
    )

    planner.refresh_from_db()
    assert (planner.role, planner.rank) == (Role.APPLICANT, Rank.CHIEF_INSPECTOR)
    appointment = pending_appointment(user=planner)
    assert (appointment.role, appointment.previous_role, appointment.rank) == (
        Role.AUTHORISING_OFFICER,
        Role.APPLICANT,
        Rank.SUPERINTENDENT,
    )
    appointment_services.appointment_approve(actor=colleague, appointment=appointment)
    planner.refresh_from_db()
    assert (planner.role, planner.rank) == (Role.AUTHORISING_OFFICER, Rank.SUPERINTENDENT)


def test_the_rise_is_one_administrators_when_authorising_officers_are_not_approved_roles(admins, settings):
    admin, colleague = admins
    officer = _ao_below_rank(admin, colleague)
    settings.LFR_APPROVED_ROLES = ["administrator", "dpo"]
    assert account_services.user_change_rank(actor=admin, user=officer, rank=Rank.SUPERINTENDENT).rank == (
        Rank.SUPERINTENDENT
    )


def test_the_minimum_authorising_rank_is_the_setting(admins, settings):
    admin, colleague = admins
    settings.LFR_MIN_AUTHORISING_RANK = "chief_superintendent"
    officer = _ao_below_rank(admin, colleague)
    assert account_services.user_change_rank(actor=admin, user=officer, rank=Rank.SUPERINTENDENT).rank == (
        Rank.SUPERINTENDENT
    )
    account_services.user_change_rank(
        actor=admin, user=officer, rank=Rank.CHIEF_SUPERINTENDENT, appointment_grounds=GROUNDS
    )
    assert User.objects.get(pk=officer.pk).rank == Rank.SUPERINTENDENT
    assert pending_appointment(user=officer).rank == Rank.CHIEF_SUPERINTENDENT


def test_the_rank_form_says_a_rise_needs_a_second_administrator_and_the_approver_sees_the_rank(admins, client_for):
    admin, colleague = admins
    officer = _ao_below_rank(admin, colleague)
    url = reverse("user_detail", args=[officer.pk])
    page = client_for(admin).get(url).content.decode()
    assert 'data-testid="rank-rise-note"' in page
    assert "Raising this account to Superintendent or above lets it authorise deployments" in page

    refused = client_for(admin).post(
        url, {"form": "account", "role": Role.AUTHORISING_OFFICER, "rank": Rank.SUPERINTENDENT, "is_active": "on"}
    )
    assert refused.status_code == 200 and "Give the grounds for raising this account to Superintendent" in (
        refused.content.decode()
    )
    assert User.objects.get(pk=officer.pk).rank == Rank.CHIEF_INSPECTOR

    proposed = client_for(admin).post(
        url,
        {
            "form": "account",
            "role": Role.AUTHORISING_OFFICER,
            "rank": Rank.SUPERINTENDENT,
            "is_active": "on",
            "appointment_grounds": GROUNDS,
        },
        follow=True,
    )
    messages = [str(m) for m in proposed.context["messages"]]
    assert messages == [
        "Account updated. The rise to Superintendent is proposed: another Administrator must approve it."
    ]
    assert User.objects.get(pk=officer.pk).rank == Rank.CHIEF_INSPECTOR

    detail = client_for(colleague).get(url).content.decode()
    assert "admin proposed raising this account's rank to <strong>Superintendent</strong>" in detail
    assert 'data-testid="authorises-once-approved"' in detail and GROUNDS in detail
    assert "Approve the appointment" in detail
    assert 'data-testid="rank-rise-note"' not in detail  # nothing to propose while this one is pending
    assert (
        "proposed: Authorising Officer at Superintendent"
        in client_for(colleague).get(reverse("user_list")).content.decode()
    )

    approved = client_for(colleague).post(
        reverse("appointment_decide", args=[officer.pk, "approve"]),
        {"appointment-appointment": pending_appointment(user=officer).pk, "appointment-note": "HR confirmed"},
        follow=True,
    )
    assert "Appointment approved: chinsp is now Authorising Officer at Superintendent." in approved.content.decode()
    assert User.objects.get(pk=officer.pk).rank == Rank.SUPERINTENDENT


def test_an_authorising_officer_appointment_at_the_authorising_rank_shows_the_rank(admins, make_user, client_for):
    admin, colleague = admins
    planner = make_user(Role.APPLICANT, username="planner", rank=Rank.SUPERINTENDENT)
    account_services.user_change_role(
        actor=admin, user=planner, role=Role.AUTHORISING_OFFICER, appointment_grounds="Posting order"
    )
    detail = client_for(colleague).get(reverse("user_detail", args=[planner.pk])).content.decode()
    assert 'data-testid="authorises-once-approved"' in detail
    assert "Once approved, this account can authorise deployments" in detail

    below = make_user(Role.APPLICANT, username="below", rank=Rank.INSPECTOR)
    account_services.user_change_role(
        actor=admin, user=below, role=Role.AUTHORISING_OFFICER, appointment_grounds="Posting order"
    )
    detail = client_for(colleague).get(reverse("user_detail", args=[below.pk])).content.decode()
    assert 'data-testid="authorises-once-approved"' not in detail
    assert "Below the minimum authorising rank (Superintendent)" in detail

    listed = api_client_for(colleague).get("/api/v1/appointments/?status=pending").json()["results"]
    by_user = {a["username"]: a for a in listed}
    assert by_user["planner"]["user_rank"] == Rank.SUPERINTENDENT and by_user["planner"]["authorises_once_approved"]
    assert by_user["planner"]["rank"] is None  # the rank does not change
    assert not by_user["below"]["authorises_once_approved"]


def test_the_api_proposes_a_rank_rise_and_returns_the_appointment(admins):
    admin, colleague = admins
    officer = _ao_below_rank(admin, colleague)

    no_grounds = api_client_for(admin).patch(f"/api/v1/users/{officer.pk}/", {"rank": 50}, format="json")
    assert no_grounds.status_code == 400 and "appointment_grounds" in no_grounds.json()["error"]["details"]

    proposed = api_client_for(admin).patch(
        f"/api/v1/users/{officer.pk}/", {"rank": 50, "appointment_grounds": GROUNDS}, format="json"
    )
    assert proposed.status_code == 200
    body = proposed.json()
    assert body["rank"] == Rank.CHIEF_INSPECTOR
    pending = body["pending_appointment"]
    assert (pending["role"], pending["rank"], pending["rank_display"], pending["user_rank"]) == (
        "authorising_officer",
        50,
        "Superintendent",
        Rank.CHIEF_INSPECTOR,
    )
    assert pending["authorises_once_approved"] and pending["proposed_by"] == "admin"

    own = api_client_for(admin).post(f"/api/v1/appointments/{pending['id']}/approve/", {}, format="json")
    assert own.status_code == 403 and own.json()["error"]["code"] == "own_proposal"
    approved = api_client_for(colleague).post(f"/api/v1/appointments/{pending['id']}/approve/", {}, format="json")
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert api_client_for(admin).get(f"/api/v1/users/{officer.pk}/").json()["rank"] == Rank.SUPERINTENDENT
