"""Engagement records (domain.md 5): a person who was not located cannot have had their identity confirmed or an
outcome recorded; such a record is refused whole, never stored with the identity and outcome silently lost."""

from __future__ import annotations

import pytest
from django.utils import timezone

from compliance.models import AuditEvent
from lfr_portal.errors import RuleViolation
from matching.models import Adjudication, Alert
from matching.models.sessions import AlertStatus
from matching.services import alerts as alert_services
from matching.services import frames as frame_services
from matching.services import sessions as session_services
from tests.matching.live_helpers import face_jpeg

pytestmark = pytest.mark.django_db


@pytest.fixture
def referred(live) -> Alert:
    session = session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=live.camera)
    accepted = frame_services.frame_submit(
        actor=live.principal, session_id=session.pk, data=face_jpeg(), captured_at=timezone.now()
    )
    frame_services.frame_process(session_id=session.pk, frame_id=accepted.frame_id, captured_at=timezone.now())
    alert = Alert.objects.order_by("-id").first()
    return alert_services.alert_refer(actor=live.operator, alert=alert)


def _unchanged(alert: Alert) -> None:
    stored = Alert.objects.get(pk=alert.pk)
    assert stored.status == AlertStatus.REFERRED
    assert (stored.located, stored.identity_confirmed, stored.outcome, stored.engagement_officer_id) == (
        None,
        None,
        "",
        None,
    )
    assert not Adjudication.objects.filter(alert=alert, decision__in=["not_located", "engaged"]).exists()
    assert not AuditEvent.objects.filter(action__in=["alert.not_located", "alert.engaged"]).exists()


@pytest.mark.parametrize(
    ("identity_confirmed", "outcome", "offending"),
    [
        (True, "arrest", {"identity_confirmed", "outcome"}),
        (True, "", {"identity_confirmed"}),
        (None, "other_action", {"outcome"}),
        # "Not the person sought" is a finding about someone who was found: once dropped, the alert was published as
        # True – Unconfirmed instead of False – Confirmed. It is refused like a confirmation.
        (False, "no_action", {"identity_confirmed", "outcome"}),
        (False, "", {"identity_confirmed"}),
    ],
)
def test_not_located_with_an_identity_or_outcome_is_refused_and_the_alert_stays_referred(
    live, referred, identity_confirmed, outcome, offending
):
    with pytest.raises(RuleViolation) as refused:
        alert_services.alert_record_engagement(
            actor=live.engagement,
            alert=referred,
            located=False,
            identity_confirmed=identity_confirmed,
            outcome=outcome,
        )
    assert set(refused.value.details) == offending
    assert "not located" in refused.value.message
    _unchanged(referred)


def test_not_located_alone_is_still_recorded(live, referred):
    recorded = alert_services.alert_record_engagement(actor=live.engagement, alert=referred, located=False)
    assert recorded.status == AlertStatus.NOT_LOCATED and recorded.located is False
    assert recorded.identity_confirmed is None and recorded.outcome == ""


def test_api_refuses_not_located_with_an_arrest_with_a_400_in_the_error_shape(live, referred, api_for):
    response = api_for(live.engagement).post(
        f"/api/v1/alerts/{referred.pk}/engagement/",
        {"located": False, "identity_confirmed": True, "outcome": "arrest"},
        format="json",
    )
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "rule_violation"
    assert set(error["details"]) == {"identity_confirmed", "outcome"}
    assert "not located" in error["message"]
    _unchanged(referred)


def test_not_located_and_not_the_person_sought_is_refused_not_published_as_a_true_alert(live, referred):
    with pytest.raises(RuleViolation) as refused:
        alert_services.alert_record_engagement(
            actor=live.engagement, alert=referred, located=False, identity_confirmed=False
        )
    assert refused.value.details["identity_confirmed"] == [
        "Only a person who was located can have their identity checked; leave it not checked."
    ]
    _unchanged(referred)


def test_api_refuses_not_located_with_not_the_person_sought(live, referred, api_for):
    response = api_for(live.engagement).post(
        f"/api/v1/alerts/{referred.pk}/engagement/", {"located": False, "identity_confirmed": False}, format="json"
    )
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "rule_violation" and set(error["details"]) == {"identity_confirmed"}
    _unchanged(referred)
