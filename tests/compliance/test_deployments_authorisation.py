"""Authorisation (domain.md 2.2), the transition table, material changes and the stop hooks."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from compliance.choices import DeploymentStatus, Rank, Role
from compliance.models import AuditEvent, Authorisation, Deployment
from compliance.services import deployments as svc
from lfr_portal.errors import InvalidTransition, NotPermitted, RuleViolation
from tests.compliance import deployment_helpers as h

pytestmark = pytest.mark.django_db
S = DeploymentStatus


def _authorise(ao, deployment, **overrides):
    kwargs = {"rationale": "Necessary and proportionate.", "expires_at": h.expiry(), **overrides}
    return svc.deployment_authorise(actor=ao, deployment=deployment, **kwargs)


def test_authorisation_freezes_a_hashed_snapshot_into_the_audit_log(users):
    deployment = h.submitted(users[Role.APPLICANT])
    authorisation = _authorise(users[Role.AUTHORISING_OFFICER], deployment, conditions="Review at 12:00.")
    deployment.refresh_from_db()
    assert deployment.status == S.AUTHORISED
    assert deployment.current_authorisation == authorisation
    assert authorisation.snapshot_hash == svc.snapshot_hash(authorisation.snapshot)
    assert authorisation.snapshot["location_name"] == "High Street, Newtown"
    assert authorisation.snapshot["camera_units"] == ["van-1"]
    event = AuditEvent.objects.get(action="deployment.authorised")
    assert event.deployment_id == deployment.pk
    assert event.after["snapshot_hash"] == authorisation.snapshot_hash
    assert event.after["conditions"] == "Review at 12:00."


def test_ao_cannot_authorise_own_application(users, make_user, appoint):
    dual = make_user(Role.APPLICANT, rank=Rank.SUPERINTENDENT)
    deployment = h.submitted(dual)
    dual = appoint(dual, Role.AUTHORISING_OFFICER)
    with pytest.raises(NotPermitted) as exc:
        _authorise(dual, deployment)
    assert exc.value.code == "own_application"
    with pytest.raises(NotPermitted):
        svc.deployment_reject(actor=dual, deployment=deployment, rationale="no")


def test_ao_below_minimum_rank_refused(users, make_user, settings):
    settings.LFR_MIN_AUTHORISING_RANK = "superintendent"
    chief_inspector = make_user(Role.AUTHORISING_OFFICER, rank=Rank.CHIEF_INSPECTOR)
    deployment = h.submitted(users[Role.APPLICANT])
    with pytest.raises(NotPermitted) as exc:
        _authorise(chief_inspector, deployment)
    assert exc.value.code == "rank_too_low"
    settings.LFR_MIN_AUTHORISING_RANK = "chief_inspector"
    assert _authorise(chief_inspector, deployment).decision == "authorised"


def test_only_authorising_officers_authorise(users, make_user):
    deployment = h.submitted(users[Role.APPLICANT])
    for role in (Role.APPLICANT, Role.DPO, Role.WATCHLIST_COMPILER, Role.ADMINISTRATOR, Role.LFR_OPERATOR):
        # Of authorising rank and not the applicant, so only the role rule can refuse them.
        senior = make_user(role, rank=Rank.CHIEF_SUPERINTENDENT)
        with pytest.raises(NotPermitted) as refused:
            _authorise(senior, deployment)
        assert refused.value.code == "wrong_role"


def test_the_applicant_promoted_to_ao_cannot_lift_a_suspension_or_review_their_own_deployment(
    users, make_user, appoint
):
    dual = make_user(Role.APPLICANT, rank=Rank.SUPERINTENDENT)
    deployment = h.authorised(dual, users[Role.AUTHORISING_OFFICER])
    svc.deployment_suspend(actor=users[Role.AUTHORISING_OFFICER], deployment=deployment, reason="DPO concern.")
    dual = appoint(dual, Role.AUTHORISING_OFFICER)
    with pytest.raises(NotPermitted) as refused:
        svc.deployment_resume(actor=dual, deployment=deployment, reason="All fine.")
    assert refused.value.code == "own_application"
    assert Deployment.objects.get(pk=deployment.pk).status == S.SUSPENDED
    resumed = svc.deployment_resume(actor=users[Role.AUTHORISING_OFFICER], deployment=deployment, reason="Checked.")
    assert resumed.status == S.AUTHORISED
    svc.deployment_close(actor=users[Role.AUTHORISING_OFFICER], deployment=deployment, reason="Done.")
    with pytest.raises(NotPermitted) as refused:
        svc.deployment_review(actor=dual, deployment=deployment, objective_met="yes", outcome_summary="Fine.")
    assert refused.value.code == "own_application"


def test_incomplete_application_cannot_be_authorised(users):
    deployment = h.submitted(users[Role.APPLICANT])
    svc.deployment_update(actor=users[Role.APPLICANT], deployment=deployment, eia_reference="")
    with pytest.raises(RuleViolation) as exc:
        _authorise(users[Role.AUTHORISING_OFFICER], deployment)
    assert "eia_reference" in exc.value.details
    assert Deployment.objects.get(pk=deployment.pk).status == S.SUBMITTED


def test_threshold_looser_than_policy_at_decision_time_refused(users, settings):
    deployment = h.submitted(users[Role.APPLICANT], match_threshold=0.55)
    settings.LFR_POLICY_THRESHOLD = 0.5  # the force tightened its policy after submission
    with pytest.raises(RuleViolation) as exc:
        _authorise(users[Role.AUTHORISING_OFFICER], deployment)
    assert "looser than the force policy" in exc.value.details["match_threshold"][0]


def test_ao_may_tighten_the_threshold_but_never_loosen_it(users):
    deployment = h.submitted(users[Role.APPLICANT], match_threshold=0.5)
    with pytest.raises(RuleViolation) as exc:
        _authorise(users[Role.AUTHORISING_OFFICER], deployment, match_threshold=0.55)
    assert "never loosen" in exc.value.details["match_threshold"][0]
    authorisation = _authorise(users[Role.AUTHORISING_OFFICER], deployment, match_threshold=0.45)
    assert authorisation.snapshot["match_threshold"] == 0.45
    assert Deployment.objects.get(pk=deployment.pk).match_threshold == 0.45


def test_rationale_and_expiry_required(users):
    deployment = h.submitted(users[Role.APPLICANT])
    with pytest.raises(RuleViolation) as exc:
        _authorise(users[Role.AUTHORISING_OFFICER], deployment, rationale=" ", expires_at=None)
    assert set(exc.value.details) == {"rationale", "expires_at"}


def test_expiry_beyond_maximum_validity_refused(users, settings):
    settings.LFR_MAX_VALIDITY_DAYS = 28
    deployment = h.submitted(users[Role.APPLICANT])
    with pytest.raises(RuleViolation) as exc:
        _authorise(users[Role.AUTHORISING_OFFICER], deployment, expires_at=h.expiry(29))
    assert "at most 28 days" in exc.value.details["expires_at"][0]


def test_window_outside_validity_refused(users):
    deployment = h.submitted(users[Role.APPLICANT])  # window starts in two days
    with pytest.raises(RuleViolation) as exc:
        _authorise(users[Role.AUTHORISING_OFFICER], deployment, expires_at=h.expiry(1))
    assert "outside the authorisation's validity" in exc.value.details["windows"][0]


def test_rejection_records_reasons(users):
    deployment = h.submitted(users[Role.APPLICANT])
    with pytest.raises(RuleViolation):
        svc.deployment_reject(actor=users[Role.AUTHORISING_OFFICER], deployment=deployment, rationale="")
    decision = svc.deployment_reject(
        actor=users[Role.AUTHORISING_OFFICER], deployment=deployment, rationale="Grounds are not specific enough."
    )
    assert decision.decision == "rejected"
    assert Deployment.objects.get(pk=deployment.pk).status == S.REJECTED
    assert AuditEvent.objects.get(action="deployment.rejected").after["reasons"] == "Grounds are not specific enough."


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("location_name", "Market Square"),
        ("location_grounds", "New intelligence puts the sought persons at the market on Fridays."),
        ("watchlist_categories", ["wanted_by_courts"]),
        ("watchlist_max_size", 10),
        ("match_threshold", 0.45),
        ("alert_policy", "margin"),
    ],
)
def test_material_change_returns_to_submitted_and_voids_the_authorisation(users, field, value):
    deployment = h.authorised(users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER])
    authorisation = deployment.authorisation
    stopped: list[tuple[int, str]] = []
    svc.on_deployment_stopped.append(lambda pk, reason: stopped.append((pk, reason)))
    try:
        with_margin = {"alert_margin": 0.05} if field == "alert_policy" else {}
        svc.deployment_update(actor=users[Role.APPLICANT], deployment=deployment, **{field: value}, **with_margin)
    finally:
        svc.on_deployment_stopped.pop()
    deployment.refresh_from_db()
    authorisation.refresh_from_db()
    assert deployment.status == S.SUBMITTED
    assert deployment.authorisation is None
    assert authorisation.voided_at is not None and field in authorisation.void_reason
    event = AuditEvent.objects.get(action="deployment.authorisation_voided")
    assert event.deployment_id == deployment.pk and field in event.after["changed"]
    assert event.before["snapshot_hash"] == authorisation.snapshot_hash


def test_changing_windows_or_cameras_is_material(users, django_capture_on_commit_callbacks):
    deployment = h.authorised(users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER])
    stopped: list[tuple[int, str]] = []
    svc.on_deployment_stopped.append(lambda pk, reason: stopped.append((pk, reason)))
    try:
        with django_capture_on_commit_callbacks(execute=True):
            svc.deployment_update(actor=users[Role.APPLICANT], deployment=deployment, windows=h.windows(count=2))
    finally:
        svc.on_deployment_stopped.pop()
    assert Deployment.objects.get(pk=deployment.pk).status == S.SUBMITTED
    assert stopped == [(deployment.pk, "authorisation_voided")]

    _authorise(users[Role.AUTHORISING_OFFICER], deployment)
    svc.deployment_update(actor=users[Role.APPLICANT], deployment=deployment, camera_unit_ids=[h.camera("van-2").pk])
    assert Deployment.objects.get(pk=deployment.pk).status == S.SUBMITTED
    assert Authorisation.objects.filter(deployment=deployment, voided_at__isnull=False).count() == 2


def test_a_critical_threat_justification_added_after_authorisation_needs_the_ao_again(users):
    """The applicant recorded notice given 24 h ahead and was authorised; they then moved the notice to the last
    minute and added a critical-threat justification. Gate 5 accepted it without any AO having seen it."""
    deployment = h.authorised(users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER])
    first = deployment.windows.order_by("start").first().start
    svc.deployment_update(
        actor=users[Role.APPLICANT],
        deployment=deployment,
        public_notice_at=min(timezone.now(), first - datetime.timedelta(minutes=1)),
        critical_threat_justification="Credible threat received this morning.",
    )
    deployment.refresh_from_db()
    assert deployment.status == S.SUBMITTED and deployment.authorisation is None
    event = AuditEvent.objects.get(action="deployment.authorisation_voided")
    assert event.after["changed"] == ["critical_threat_justification"]
    authorised = _authorise(users[Role.AUTHORISING_OFFICER], deployment)  # the AO now sees it, and accepts it
    assert authorised.deployment.status == S.AUTHORISED


def test_public_notice_and_title_changes_are_not_material(users):
    deployment = h.authorised(users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER])
    svc.deployment_update(
        actor=users[Role.APPLICANT],
        deployment=deployment,
        title="Renamed",
        public_notice_text="Updated notice text for the public.",
    )
    deployment.refresh_from_db()
    assert deployment.status == S.AUTHORISED and deployment.authorisation is not None


def test_re_saving_the_same_text_from_a_page_is_no_change(users):
    """A browser sends a textarea's line breaks as CRLF; text sent through the API (or saved before this rule) has
    LF. Fixing the title on the page sent every text field back with CRLF, which counted as a material change: the
    authorisation was voided and the audit log recorded edits nobody made."""
    applicant = users[Role.APPLICANT]
    deployment = h.authorised(applicant, users[Role.AUTHORISING_OFFICER], objectives="Find A.\nFind B.")
    Deployment.objects.filter(pk=deployment.pk).update(location_address="1 High St\r\nTown")  # saved before
    updates = AuditEvent.objects.filter(action="deployment.updated").count()

    svc.deployment_update(
        actor=applicant,
        deployment=deployment,
        objectives="Find A.\r\nFind B.",
        location_address="1 High St\nTown",
    )

    deployment.refresh_from_db()
    assert deployment.status == S.AUTHORISED and deployment.authorisation is not None
    assert deployment.objectives == "Find A.\nFind B." and deployment.location_address == "1 High St\nTown"
    assert AuditEvent.objects.filter(action="deployment.updated").count() == updates


def test_suspend_resume_revoke_cycle_with_reasons_and_hooks(users, django_capture_on_commit_callbacks):
    deployment = h.authorised(users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER])
    calls: list[tuple[str, int, str]] = []
    hooks = [
        (svc.on_deployment_stopped, "stopped"),
        (svc.on_deployment_revoked, "revoked"),
        (svc.on_deployment_completed, "completed"),
    ]
    for hook_list, name in hooks:
        hook_list.append(lambda pk, reason, name=name: calls.append((name, pk, reason)))
    try:
        with pytest.raises(RuleViolation):
            svc.deployment_suspend(actor=users[Role.DPO], deployment=deployment, reason="")
        with django_capture_on_commit_callbacks(execute=True):
            svc.deployment_suspend(actor=users[Role.DPO], deployment=deployment, reason="Compliance check.")
        assert Deployment.objects.get(pk=deployment.pk).status == S.SUSPENDED
        with pytest.raises(NotPermitted):
            svc.deployment_resume(actor=users[Role.DPO], deployment=deployment, reason="ok")
        svc.deployment_resume(actor=users[Role.AUTHORISING_OFFICER], deployment=deployment, reason="Resolved.")
        assert Deployment.objects.get(pk=deployment.pk).status == S.AUTHORISED
        with django_capture_on_commit_callbacks(execute=True):
            svc.deployment_revoke(actor=users[Role.AUTHORISING_OFFICER], deployment=deployment, reason="Misuse.")
    finally:
        for hook_list, _name in hooks:
            hook_list.pop()
    assert calls == [
        ("stopped", deployment.pk, "suspended"),
        ("stopped", deployment.pk, "revoked"),
        ("revoked", deployment.pk, "revoked"),
    ]
    actions = list(AuditEvent.objects.filter(deployment_id=deployment.pk).values_list("action", flat=True))
    assert actions[-3:] == ["deployment.suspended", "deployment.resumed", "deployment.revoked"]
    with pytest.raises(InvalidTransition):
        svc.deployment_resume(actor=users[Role.AUTHORISING_OFFICER], deployment=deployment, reason="again")


def test_revoking_or_closing_needs_the_authorising_rank_but_suspending_does_not(users, make_user):
    deployment = h.authorised(users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER])
    junior = make_user(Role.AUTHORISING_OFFICER, username="junior-ao", rank=Rank.CHIEF_INSPECTOR)
    for service in (svc.deployment_revoke, svc.deployment_close):
        with pytest.raises(NotPermitted) as refused:
            service(actor=junior, deployment=deployment, reason="No.")
        assert refused.value.code == "rank_too_low"
    assert Deployment.objects.get(pk=deployment.pk).status == S.AUTHORISED
    svc.deployment_suspend(actor=junior, deployment=deployment, reason="Safety concern.")
    assert Deployment.objects.get(pk=deployment.pk).status == S.SUSPENDED
    svc.deployment_revoke(actor=users[Role.DPO], deployment=deployment, reason="Unlawful watch-list.")
    assert Deployment.objects.get(pk=deployment.pk).status == S.REVOKED


def test_a_failing_hook_does_not_stop_the_others(users, django_capture_on_commit_callbacks):
    deployment = h.authorised(users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER])
    calls = []

    def broken(pk, reason):
        raise RuntimeError("boom")

    svc.on_deployment_stopped.extend([broken, lambda pk, reason: calls.append(reason)])
    try:
        with django_capture_on_commit_callbacks(execute=True):
            svc.deployment_suspend(actor=users[Role.AUTHORISING_OFFICER], deployment=deployment, reason="x")
    finally:
        del svc.on_deployment_stopped[-2:]
    assert calls == ["suspended"]


@pytest.mark.parametrize(
    ("status_from", "action"),
    [
        ("draft", "suspend"),
        ("submitted", "revoke"),
        ("draft", "close"),
        ("submitted", "resume"),
    ],
)
def test_illegal_transitions_are_conflicts_not_silent(users, status_from, action):
    deployment = h.draft(users[Role.APPLICANT]) if status_from == "draft" else h.submitted(users[Role.APPLICANT])
    service = getattr(svc, f"deployment_{action}")
    actor = users[Role.AUTHORISING_OFFICER]
    with pytest.raises(InvalidTransition) as exc:
        service(actor=actor, deployment=deployment, reason="why")
    assert exc.value.status_code == 409
    assert Deployment.objects.get(pk=deployment.pk).status == status_from


def test_stale_instance_loses_the_compare_and_set(users):
    deployment = h.authorised(users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER])
    stale = Deployment.objects.get(pk=deployment.pk)
    svc.deployment_revoke(actor=users[Role.DPO], deployment=deployment, reason="first")
    with pytest.raises(InvalidTransition):
        svc.deployment_suspend(actor=users[Role.AUTHORISING_OFFICER], deployment=stale, reason="second")
    assert AuditEvent.objects.filter(action="deployment.suspended").count() == 0


def test_transition_table_is_the_single_source(users):
    # Every action the services expose maps to exactly one target state.
    assert svc.TRANSITIONS["suspend"] == (frozenset({S.AUTHORISED}), S.SUSPENDED)
    assert S.REVOKED not in {state for sources, _ in svc.TRANSITIONS.values() for state in sources}


def test_applicant_cancels_own_draft_but_not_an_authorised_deployment(users):
    applicant = users[Role.APPLICANT]
    draft = h.draft(applicant)
    assert svc.deployment_cancel(actor=applicant, deployment=draft, reason="Not needed.").status == S.CANCELLED
    deployment = h.authorised(applicant, users[Role.AUTHORISING_OFFICER])
    with pytest.raises(NotPermitted):
        svc.deployment_cancel(actor=applicant, deployment=deployment, reason="x")
    assert (
        svc.deployment_cancel(actor=users[Role.AUTHORISING_OFFICER], deployment=deployment, reason="Event off").status
        == S.CANCELLED
    )


def test_dpo_cannot_cancel_or_close(users):
    deployment = h.authorised(users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER])
    with pytest.raises(NotPermitted):
        svc.deployment_cancel(actor=users[Role.DPO], deployment=deployment, reason="x")
    with pytest.raises(NotPermitted):
        svc.deployment_close(actor=users[Role.DPO], deployment=deployment, reason="x")


def test_beat_completes_deployments_after_their_last_window(users, django_capture_on_commit_callbacks):
    deployment = h.authorised(users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER])
    other = h.authorised(users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER])
    last_end = deployment.windows.get().end
    assert svc.deployments_complete_finished(at=last_end - datetime.timedelta(seconds=1)) == []
    completed = []
    svc.on_deployment_completed.append(lambda pk, reason: completed.append(pk))
    try:
        with django_capture_on_commit_callbacks(execute=True):
            done = svc.deployments_complete_finished(at=last_end)
    finally:
        svc.on_deployment_completed.pop()
    assert sorted(done) == sorted([deployment.pk, other.pk])
    assert sorted(completed) == sorted(done)
    deployment.refresh_from_db()
    assert deployment.status == S.COMPLETED and deployment.completed_at is not None
    event = AuditEvent.objects.filter(action="deployment.completed", deployment_id=deployment.pk).get()
    assert event.actor_id is None and event.actor_username == "system"


def test_an_application_whose_last_window_ended_unauthorised_is_completed_or_cancelled(users):
    """Back in `submitted` after a material change voided it, an application whose last window then ended could
    never be authorised again and sat there for ever: its watch-list and alerts were never destroyed, its record
    never published. Once authorised it now completes; never authorised, it is cancelled."""
    voided = h.authorised(users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER])
    svc.deployment_update(
        actor=users[Role.APPLICANT], deployment=voided, location_grounds="New intelligence: the market on Fridays."
    )
    voided.refresh_from_db()
    assert voided.status == S.SUBMITTED
    never = h.submitted(users[Role.APPLICANT])
    last_end = voided.windows.get().end

    done = svc.deployments_complete_finished(at=last_end)

    assert sorted(done) == sorted([voided.pk, never.pk])
    voided.refresh_from_db()
    never.refresh_from_db()
    assert (voided.status, never.status) == (S.COMPLETED, S.CANCELLED)
    assert AuditEvent.objects.get(action="deployment.completed", deployment_id=voided.pk).actor_username == "system"
    cancelled = AuditEvent.objects.get(action="deployment.cancelled", deployment_id=never.pk)
    assert "before the application was authorised" in cancelled.after["reason"]


def test_beat_task_function_runs_the_service(users):
    from compliance.tasks import complete_finished_deployments

    h.authorised(users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER])
    assert complete_finished_deployments() == 0


def test_ao_closes_early_then_reviews_to_publish(users):
    deployment = h.authorised(users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER])
    ao = users[Role.AUTHORISING_OFFICER]
    with pytest.raises(InvalidTransition):
        svc.deployment_review(actor=ao, deployment=deployment, objective_met="yes", outcome_summary="x")
    svc.deployment_close(actor=ao, deployment=deployment, reason="Operation concluded early.")
    with pytest.raises(RuleViolation) as exc:
        svc.deployment_review(actor=ao, deployment=deployment, objective_met="maybe", outcome_summary="")
    assert set(exc.value.details) == {"objective_met", "outcome_summary"}
    with pytest.raises(NotPermitted):
        svc.deployment_review(actor=users[Role.DPO], deployment=deployment, objective_met="yes", outcome_summary="x")
    review = svc.deployment_review(
        actor=ao, deployment=deployment, objective_met="partly", outcome_summary="Two arrests.", complaint_count=1
    )
    deployment.refresh_from_db()
    assert deployment.status == S.REVIEWED and deployment.review == review
    assert AuditEvent.objects.get(action="deployment.reviewed").after["published"] is True


def test_no_edits_after_completion(users):
    deployment = h.authorised(users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER])
    svc.deployment_close(actor=users[Role.AUTHORISING_OFFICER], deployment=deployment, reason="done")
    with pytest.raises(InvalidTransition):
        svc.deployment_update(actor=users[Role.APPLICANT], deployment=deployment, title="late")


def test_authorised_at_and_expiry_visible(users):
    deployment = h.authorised(users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER])
    assert deployment.authorised_at <= timezone.now()
    assert deployment.authorisation.in_force_at(timezone.now())


def test_a_decision_on_an_application_changed_since_the_ao_read_it_is_refused(users, client_for, api_for):
    """The applicant may still edit a submitted application: the AO's decision carries the version they read."""
    applicant, ao = users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER]
    deployment = h.submitted(applicant)
    detail = client_for(ao).get(f"/deployments/{deployment.pk}/").content.decode()
    read = svc.application_version(deployment)
    assert f"/decide/?version={read}" in detail

    svc.deployment_update(actor=applicant, deployment=deployment, location_name="The other end of the high street")

    with pytest.raises(InvalidTransition) as refused:
        svc.deployment_authorise(
            actor=ao, deployment=deployment, rationale="Necessary.", expires_at=h.expiry(), reviewed_version=read
        )
    assert refused.value.code == "application_changed"
    response = api_for(ao).post(
        f"/api/v1/deployments/{deployment.pk}/reject/", {"rationale": "No.", "reviewed_version": read}, format="json"
    )
    assert response.status_code == 409 and response.json()["error"]["code"] == "application_changed"
    page = client_for(ao).post(
        f"/deployments/{deployment.pk}/decide/?version={read}",
        {"decision": "reject", "rationale": "No.", "reviewed_version": read},
    )
    assert page.status_code == 409
    deployment.refresh_from_db()
    assert deployment.status == S.SUBMITTED and not deployment.authorisations.exists()

    current = api_for(ao).get(f"/api/v1/deployments/{deployment.pk}/").json()["version"]
    svc.deployment_authorise(
        actor=ao, deployment=deployment, rationale="Necessary.", expires_at=h.expiry(), reviewed_version=current
    )


def test_a_deployment_completed_after_a_void_publishes_what_was_authorised(users):
    """The applicant's change that voided the authorisation was never authorised and never ran: the public record
    shows the authorised location, not the edit."""
    from compliance import transparency

    deployment = h.authorised(users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER])
    authorised_location = deployment.location_name
    svc.deployment_update(actor=users[Role.APPLICANT], deployment=deployment, location_name="Somewhere else entirely")
    svc.deployments_complete_finished(at=deployment.windows.get().end)
    deployment = Deployment.objects.get(pk=deployment.pk)
    assert deployment.status == S.COMPLETED

    record = transparency.public_detail(deployment)

    assert record["location"] == authorised_location != deployment.location_name
    assert record["windows"] == [(w.start, w.end) for w in deployment.windows.all()]


def test_the_completion_beat_reads_the_windows_again_on_the_locked_row(users, monkeypatch):
    """An application never authorised whose windows the applicant moves while the beat runs is not cancelled."""
    deployment = h.submitted(users[Role.APPLICANT])
    end = deployment.windows.get().end
    real_fresh = svc._fresh

    def moved_meanwhile(target, **kwargs):
        monkeypatch.setattr(svc, "_fresh", real_fresh)  # once: the update below reads the row itself
        later = [(end + datetime.timedelta(days=2), end + datetime.timedelta(days=2, hours=4))]
        svc.deployment_update(
            actor=users[Role.APPLICANT], deployment=Deployment.objects.get(pk=deployment.pk), windows=later
        )
        return real_fresh(target, **kwargs)

    monkeypatch.setattr(svc, "_fresh", moved_meanwhile)

    assert svc.deployments_complete_finished(at=end) == []
    assert Deployment.objects.get(pk=deployment.pk).status == S.SUBMITTED
