"""Alerts and human adjudication: separation of duties, two-person verification, audit, published statistics."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from compliance import transparency
from compliance.models import AuditEvent, Deployment
from lfr_portal.errors import InvalidTransition, NotPermitted, RuleViolation
from matching.models import Alert
from matching.models.sessions import AlertStatus
from matching.selectors import sessions as selectors
from matching.services import alerts as alert_services
from matching.services import frames as frame_services
from matching.services import sessions as session_services
from tests.matching.live_helpers import face_jpeg

pytestmark = pytest.mark.django_db


@pytest.fixture
def session(live):
    return session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=live.camera)


def raise_alert(live, session, *, entry_face: str = "lin-manuel-miranda.png") -> Alert:
    accepted = frame_services.frame_submit(
        actor=live.principal, session_id=session.pk, data=face_jpeg(entry_face), captured_at=timezone.now()
    )
    frame_services.frame_process(session_id=session.pk, frame_id=accepted.frame_id, captured_at=timezone.now())
    return Alert.objects.order_by("-id").first()


@pytest.fixture
def alert(live, session) -> Alert:
    return raise_alert(live, session)


def test_operator_dismisses_a_false_alert_and_it_is_audited(live, alert):
    dismissed = alert_services.alert_dismiss(actor=live.operator, alert=alert, note="Different person")
    assert dismissed.status == AlertStatus.DISMISSED
    event = AuditEvent.objects.get(action="alert.dismissed")
    assert event.actor_username == live.operator.username and event.deployment_id == live.deployment.pk
    with pytest.raises(InvalidTransition):
        alert_services.alert_refer(actor=live.operator2, alert=dismissed)


def test_engagement_officer_cannot_make_the_first_review_and_operator_cannot_engage(live, alert):
    with pytest.raises(NotPermitted):
        alert_services.alert_refer(actor=live.engagement, alert=alert)
    referred = alert_services.alert_refer(actor=live.operator, alert=alert)
    with pytest.raises(NotPermitted):
        alert_services.alert_record_engagement(
            actor=live.operator, alert=referred, located=True, identity_confirmed=True, outcome="arrest"
        )


def test_engagement_needs_identity_and_outcome_when_located(live, alert):
    referred = alert_services.alert_refer(actor=live.operator, alert=alert)
    with pytest.raises(RuleViolation) as refused:
        alert_services.alert_record_engagement(actor=live.engagement, alert=referred, located=True)
    assert set(refused.value.details) == {"identity_confirmed", "outcome"}


def test_engagement_before_referral_is_refused(live, alert):
    with pytest.raises(InvalidTransition):
        alert_services.alert_record_engagement(actor=live.engagement, alert=alert, located=False)


def test_unassigned_officers_cannot_review(live, alert, make_user):
    with pytest.raises(NotPermitted):
        alert_services.alert_dismiss(actor=make_user("lfr_operator"), alert=alert)


def test_officers_without_current_training_cannot_act_on_alerts(live, alert):
    live.operator.training_records.update(expires_on=timezone.localdate() - datetime.timedelta(days=1))
    with pytest.raises(NotPermitted) as refused:
        alert_services.alert_dismiss(actor=live.operator, alert=alert)
    assert refused.value.code == "training_expired"
    referred = alert_services.alert_refer(actor=live.operator2, alert=alert)
    live.engagement.training_records.update(expires_on=timezone.localdate() - datetime.timedelta(days=1))
    with pytest.raises(NotPermitted):
        alert_services.alert_record_engagement(actor=live.engagement, alert=referred, located=False)


def test_two_person_verification_needs_two_distinct_verifiers(live, alert, settings, client_for):
    from matching.live_panels import live_matching_panel

    settings.LFR_TWO_PERSON_VERIFICATION = True
    assert live_matching_panel(live.engagement)["matching_alerts_waiting"] == 0  # a new alert is the operators'
    verified = alert_services.alert_refer(actor=live.operator, alert=alert)
    assert verified.status == AlertStatus.VERIFYING and verified.first_verifier == live.operator
    with pytest.raises(NotPermitted) as same:
        alert_services.alert_refer(actor=live.operator, alert=verified)
    assert same.value.code == "same_verifier"
    # The first verifier is told, not offered the second verification the service refuses; the others are.
    console = reverse("session_console_alerts", args=[alert.session_id])
    assert f"refer-{alert.pk}".encode() not in client_for(live.operator).get(console).content
    assert b"a second, different person must verify it" in client_for(live.operator).get(console).content
    assert f"refer-{alert.pk}".encode() in client_for(live.operator2).get(console).content
    assert live_matching_panel(live.operator)["matching_alerts_waiting"] == 0
    assert live_matching_panel(live.operator2)["matching_alerts_waiting"] == 1
    assert live_matching_panel(live.engagement)["matching_alerts_waiting"] == 1  # may verify too
    with pytest.raises(InvalidTransition):
        alert_services.alert_record_engagement(actor=live.engagement, alert=verified, located=False)
    referred = alert_services.alert_refer(actor=live.operator2, alert=verified)
    assert referred.status == AlertStatus.REFERRED
    assert (referred.first_verifier, referred.second_verifier) == (live.operator, live.operator2)
    assert list(
        AuditEvent.objects.filter(action__in=["alert.verified", "alert.referred"])
        .values_list("actor_username", flat=True)
        .order_by("seq")
    ) == [live.operator.username, live.operator2.username]


def test_eu_jurisdiction_forces_two_person_verification(live, alert, settings):
    settings.LFR_TWO_PERSON_VERIFICATION = False
    settings.LFR_JURISDICTION = "eu"
    assert alert_services.alert_refer(actor=live.operator, alert=alert).status == AlertStatus.VERIFYING


def test_adjudications_roll_up_into_the_published_record(live, session):
    """Five alerts, one of each path through the review, become the Met columns."""
    from compliance.models import Deployment

    faces = ["lin-manuel-miranda.png"] * 5
    alerts = []
    for face in faces:
        alert = raise_alert(live, session, entry_face=face)
        Alert.objects.filter(pk=alert.pk).update(last_seen_at=alert.last_seen_at - timezone.timedelta(minutes=5))
        alerts.append(alert)
    assert len({a.pk for a in alerts}) == 5
    dismissed, not_located, arrest, wrong_person, pending = alerts
    alert_services.alert_dismiss(actor=live.operator, alert=dismissed)
    for a in (not_located, arrest, wrong_person):
        alert_services.alert_refer(actor=live.operator, alert=a)
    alert_services.alert_record_engagement(actor=live.engagement, alert=not_located, located=False)
    alert_services.alert_record_engagement(
        actor=live.engagement, alert=arrest, located=True, identity_confirmed=True, outcome="arrest"
    )
    alert_services.alert_record_engagement(
        actor=live.engagement, alert=wrong_person, located=True, identity_confirmed=False, outcome="no_action"
    )
    stats = transparency.deployment_statistics(Deployment.objects.get(pk=live.deployment.pk))
    assert stats["total_alerts"] == 5
    assert (stats["true_confirmed"], stats["true_unconfirmed"]) == (1, 1)
    assert (stats["false_confirmed"], stats["false_unconfirmed"]) == (1, 1)
    assert (stats["engagements"], stats["outcome_arrest"], stats["outcome_other"], stats["no_action"]) == (2, 1, 0, 1)
    assert stats["faces_seen"] == 5 and stats["duration_seconds"] >= 0
    assert pending.status == AlertStatus.NEW


def test_administrator_never_sees_alerts(live, alert):
    assert not selectors.alert_list(user=live.admin).exists()
    assert not selectors.alert_list(user=live.compiler).exists()
    assert selectors.alert_list(user=live.dpo).count() == 1
    assert selectors.alert_list(user=live.engagement).count() == 1
    with pytest.raises(NotPermitted):
        alert_services.alert_probe_image(actor=live.admin, alert=alert)


def test_viewing_the_probe_image_is_audited_and_decrypts_a_jpeg(live, alert):
    data = alert_services.alert_probe_image(actor=live.operator, alert=alert)
    assert data[:3] == b"\xff\xd8\xff"
    event = AuditEvent.objects.get(action="alert.image_viewed")
    assert event.actor_username == live.operator.username and event.after["probe_sha256"] == alert.probe_sha256


def test_viewing_the_watchlist_image_is_audited(live, alert):
    data, content_type = alert_services.alert_reference_image(actor=live.engagement, alert=alert)
    assert data and content_type.startswith("image/")
    assert AuditEvent.objects.filter(action="alert.image_viewed", after__image="watchlist_entry").exists()


def test_a_deployment_that_ran_sessions_is_closed_and_published_not_cancelled(live, session):
    """Cancelling an authorised deployment after a day of matching took it off the review and the transparency page
    (only reviewed deployments are published), with a lower bar than closing (any AO, no rank)."""
    from compliance.choices import DeploymentStatus
    from compliance.services import deployments as deployment_services

    session_services.session_stop(actor=live.operator, session=session)
    with pytest.raises(RuleViolation) as refused:
        deployment_services.deployment_cancel(actor=live.ao, deployment=live.deployment, reason="Called off.")
    assert refused.value.code == "deployment_used"
    from compliance.views.deployments import available_actions

    offered = [a["name"] for a in available_actions(live.ao, live.deployment)]
    assert "cancel" not in offered and "close" in offered  # no button the service would refuse
    assert not AuditEvent.objects.filter(action="deployment.cancelled").exists()
    closed = deployment_services.deployment_close(actor=live.ao, deployment=live.deployment, reason="Done early.")
    assert closed.status == DeploymentStatus.COMPLETED


def test_no_review_of_an_alert_whose_camera_image_was_destroyed(live, alert, client_for):
    """After retention destroyed the crop, a review could only go on the score: nobody acts on a score alone."""
    alert_services.alert_destroy_probe(actor=None, alert_id=alert.pk)
    console = client_for(live.operator).get(reverse("session_console_alerts", args=[alert.session_id])).content
    assert b"is no longer held: it cannot be reviewed now" in console and f"dismiss-{alert.pk}".encode() not in console
    from matching.live_panels import live_matching_panel

    assert live_matching_panel(live.operator)["matching_alerts_waiting"] == 0  # nothing left to act on
    for review in (alert_services.alert_refer, alert_services.alert_dismiss):
        with pytest.raises(RuleViolation) as refused:
            review(actor=live.operator, alert=alert)
        assert refused.value.code == "probe_destroyed"
    assert Alert.objects.get(pk=alert.pk).status == AlertStatus.NEW


def test_the_alerts_of_a_published_deployment_no_longer_change(live, session, alert, client_for):
    """The published record is computed from the alerts: a referral or engagement recorded after the review
    changed figures the public had already read."""
    from compliance.services import deployments as deployment_services

    referred = alert_services.alert_refer(actor=live.operator, alert=alert)
    session_services.session_stop(actor=live.operator, session=session)
    deployment_services.deployment_close(actor=live.ao, deployment=live.deployment, reason="Done.")
    before = transparency.deployment_statistics(live.deployment)
    deployment_services.deployment_review(
        actor=live.ao, deployment=live.deployment, objective_met="partly", outcome_summary="One referral."
    )

    with pytest.raises(RuleViolation) as refused:
        alert_services.alert_record_engagement(
            actor=live.engagement, alert=referred, located=True, identity_confirmed=True, outcome="arrest"
        )
    assert refused.value.code == "record_published"
    assert transparency.deployment_statistics(live.deployment) == before
    console = client_for(live.engagement).get(reverse("session_console_alerts", args=[session.pk])).content
    assert b"record published: this alert can no longer change" in console
    assert f"engage-{referred.pk}".encode() not in console


def test_the_alerts_of_a_revoked_deployment_published_after_review_no_longer_change(live, session, alert, client_for):
    """A revoked deployment that ran is reviewed and published without leaving `revoked`: its figures are as public
    as a completed one's, so its alerts freeze too, and nobody is told there is anything left to act on."""
    from compliance.choices import DeploymentStatus
    from compliance.services import deployments as deployment_services
    from matching.live_panels import live_matching_panel

    referred = alert_services.alert_refer(actor=live.operator, alert=alert)
    deployment_services.deployment_revoke(actor=live.ao, deployment=live.deployment, reason="Intelligence withdrawn.")
    deployment_services.deployment_review(
        actor=live.ao, deployment=live.deployment, objective_met="partly", outcome_summary="Revoked after a day."
    )
    live.deployment.refresh_from_db()
    assert live.deployment.status == DeploymentStatus.REVOKED and live.deployment.reviewed_at is not None
    before = transparency.deployment_statistics(live.deployment)

    with pytest.raises(RuleViolation) as refused:
        alert_services.alert_record_engagement(
            actor=live.engagement, alert=referred, located=True, identity_confirmed=True, outcome="arrest"
        )
    assert refused.value.code == "record_published"
    assert transparency.deployment_statistics(live.deployment) == before
    assert live_matching_panel(live.engagement)["matching_alerts_waiting"] == 0


def test_a_used_deployment_voided_by_a_change_is_not_rejected_off_the_record(live, session, client_for):
    """After matching, a material change returned the deployment to submitted; rejecting it then ended it for good
    without review or publication. It now waits for a fresh authorisation or completes at its last window."""
    from compliance.services import deployments as deployment_services

    session_services.session_stop(actor=live.operator, session=session)
    deployment_services.deployment_update(actor=live.applicant, deployment=live.deployment, location_name="Elsewhere")
    with pytest.raises(RuleViolation) as refused:
        deployment_services.deployment_reject(actor=live.ao, deployment=live.deployment, rationale="Not now.")
    assert refused.value.code == "deployment_used" and "rejected" in refused.value.message
    assert not AuditEvent.objects.filter(action="deployment.rejected").exists()
    # An AO can still end it early: closed, it is reviewed and published like any other.
    from compliance.views.deployments import available_actions

    assert "close" in [a["name"] for a in available_actions(live.ao, live.deployment)]
    page = client_for(live.ao).get(reverse("deployment_decide", args=[live.deployment.pk])).content.decode()
    assert 'data-testid="decide-used"' in page and 'value="reject"' not in page
    closed = deployment_services.deployment_close(actor=live.ao, deployment=live.deployment, reason="Called off.")
    assert closed.status == "completed"


@pytest.mark.parametrize("moved", ["ten_years_ahead", "cleared"])
def test_a_used_deployment_voided_by_a_change_completes_when_its_authorised_windows_end(live, session, moved):
    """It may be neither rejected nor cancelled, and the beat completed it only when its current windows ended: an
    applicant who moved them years ahead, or cleared them, kept it and its watch-list and alerts for ever. It now
    completes when the windows it was authorised for end."""
    from compliance.services import deployments as deployment_services

    session_services.session_stop(actor=live.operator, session=session)
    authorised_end = live.deployment.last_window_end
    later = authorised_end + datetime.timedelta(days=3650)
    windows = [(later, later + datetime.timedelta(hours=4))] if moved == "ten_years_ahead" else []
    deployment_services.deployment_update(actor=live.applicant, deployment=live.deployment, windows=windows)
    assert Deployment.objects.get(pk=live.deployment.pk).status == "submitted"

    assert deployment_services.deployments_complete_finished(at=authorised_end - datetime.timedelta(seconds=1)) == []
    assert deployment_services.deployments_complete_finished(at=authorised_end) == [live.deployment.pk]
    assert Deployment.objects.get(pk=live.deployment.pk).status == "completed"


def test_an_unused_voided_application_still_waits_for_its_new_windows(live):
    """The bound is for deployments that ran: one that never did may be re-authorised for its moved windows."""
    from compliance.services import deployments as deployment_services

    authorised_end = live.deployment.last_window_end
    later = authorised_end + datetime.timedelta(days=2)
    deployment_services.deployment_update(
        actor=live.applicant, deployment=live.deployment, windows=[(later, later + datetime.timedelta(hours=4))]
    )
    assert deployment_services.deployments_complete_finished(at=authorised_end) == []
    assert Deployment.objects.get(pk=live.deployment.pk).status == "submitted"


def test_no_review_once_the_watch_list_image_is_destroyed(live, alert):
    """The watch-list is destroyed within a day of the deployment; the crop lives 31 days. A review between the two
    would compare the camera's face with nothing."""
    from compliance.services import watchlists as watchlist_services
    from matching.live_panels import live_matching_panel

    assert live_matching_panel(live.operator)["matching_alerts_waiting"] == 1
    watchlist_services.watchlist_destroy(deployment=live.deployment, reason="Test: destroyed.")
    with pytest.raises(RuleViolation) as refused:
        alert_services.alert_refer(actor=live.operator, alert=alert)
    assert refused.value.code == "reference_destroyed"
    assert live_matching_panel(live.operator)["matching_alerts_waiting"] == 0
