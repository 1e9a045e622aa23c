"""Probe destruction (domain.md 6): the matching service clears the crop, audits it, respects evidential holds,
and is the path the retention sweep deletes through."""

from __future__ import annotations

import datetime

import pytest
from freezegun import freeze_time

from compliance.choices import Role
from compliance.models import AuditEvent
from compliance.services import retention as retention_services
from lfr_portal.errors import InvalidTransition, NotFound, NotPermitted
from matching.models import Alert
from matching.services import alerts as alert_services
from tests.compliance.retention_helpers import alert_for, completed_deployment

pytestmark = pytest.mark.django_db

ALERT = "matching.alert"


@pytest.fixture(autouse=True)
def archive(settings, tmp_path):
    settings.LFR_AUDIT_ARCHIVE_DIR = tmp_path / "audit-archive"
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def dpo(make_user):
    return make_user(Role.DPO, username="dpo")


@pytest.fixture
def finished(make_user):
    applicant, ao = make_user(Role.APPLICANT), make_user(Role.AUTHORISING_OFFICER)
    deployment = completed_deployment(applicant, ao)
    alerts = alert_for(deployment, make_user(Role.LFR_OPERATOR), n=2, outcome="arrest")
    return deployment, alerts


def test_destroying_a_probe_clears_the_crop_keeps_the_outcome_and_is_audited(finished):
    deployment, alerts = finished
    alert = alerts[0]

    assert alert_services.alert_destroy_probe(actor=None, alert_id=alert.pk) is True

    stored = Alert.objects.get(pk=alert.pk)
    assert stored.probe_crop is None and stored.probe_destroyed_at is not None
    assert stored.outcome == "arrest" and stored.probe_sha256 == alert.probe_sha256
    assert Alert.objects.get(pk=alerts[1].pk).probe_crop is not None
    event = AuditEvent.objects.get(action="alert.probe_destroyed")
    assert (event.target_type, event.target_id) == (ALERT, str(alert.pk))
    assert event.deployment_id == deployment.pk and event.actor_username == "system"
    assert event.before == {"probe_sha256": alert.probe_sha256} and event.after["reason"] == "retention"


def test_destroying_a_probe_twice_changes_nothing_the_second_time(finished):
    _deployment, alerts = finished
    assert alert_services.alert_destroy_probe(actor=None, alert_id=alerts[0].pk) is True
    destroyed_at = Alert.objects.get(pk=alerts[0].pk).probe_destroyed_at

    assert alert_services.alert_destroy_probe(actor=None, alert_id=alerts[0].pk) is False

    assert Alert.objects.get(pk=alerts[0].pk).probe_destroyed_at == destroyed_at
    assert AuditEvent.objects.filter(action="alert.probe_destroyed").count() == 1


def test_an_evidential_hold_refuses_destruction_until_lifted(finished, dpo):
    deployment, alerts = finished
    hold = retention_services.evidential_hold_place(
        actor=dpo, target_type=ALERT, target_id=alerts[0].pk, reason="Appeal pending"
    )

    with pytest.raises(InvalidTransition) as refused:
        alert_services.alert_destroy_probe(actor=dpo, alert_id=alerts[0].pk)
    assert refused.value.code == "evidential_hold"
    assert Alert.objects.get(pk=alerts[0].pk).probe_crop is not None
    assert not AuditEvent.objects.filter(action="alert.probe_destroyed").exists()

    retention_services.evidential_hold_lift(actor=dpo, hold=hold, reason="Appeal dismissed")
    assert alert_services.alert_destroy_probe(actor=dpo, alert_id=alerts[0].pk, reason="DPO request") is True
    event = AuditEvent.objects.get(action="alert.probe_destroyed")
    assert event.actor_username == "dpo" and event.after["reason"] == "DPO request"


@pytest.mark.parametrize("role", [r for r in Role.values if r != Role.DPO])
def test_only_the_dpo_destroys_a_probe_by_hand(finished, make_user, role):
    _deployment, alerts = finished
    with pytest.raises(NotPermitted):
        alert_services.alert_destroy_probe(actor=make_user(role), alert_id=alerts[0].pk)
    assert Alert.objects.get(pk=alerts[0].pk).probe_crop is not None


def test_destroying_an_unknown_alert_is_not_found():
    with pytest.raises(NotFound):
        alert_services.alert_destroy_probe(actor=None, alert_id=999_999)


def test_the_retention_sweep_destroys_probes_through_the_matching_service(finished, monkeypatch):
    deployment, alerts = finished
    calls: list[int] = []
    real = alert_services.alert_destroy_probe

    def spy(**kwargs):
        calls.append(kwargs["alert_id"])
        return real(**kwargs)

    monkeypatch.setattr(alert_services, "alert_destroy_probe", spy)
    with freeze_time(deployment.completed_at + datetime.timedelta(days=32)):
        run = retention_services.retention_enforce(trigger="test")

    assert sorted(calls) == sorted(a.pk for a in alerts)
    assert run.status == "ok"
    assert Alert.objects.filter(deployment=deployment, probe_crop__isnull=False).count() == 0
    assert AuditEvent.objects.filter(action="alert.probe_destroyed", deployment_id=deployment.pk).count() == 2
    deleted = AuditEvent.objects.filter(action="retention.deleted", target_type=ALERT)
    assert all(e.after["probe_destroyed"] is True for e in deleted) and deleted.count() == 2
