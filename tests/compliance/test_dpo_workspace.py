"""The DPO workspace (domain.md 6, 7): dashboard, audit search and CSV, verification, holds, audit pack, API."""

from __future__ import annotations

import csv
import datetime
import io
import re

import pytest
from django.urls import reverse
from freezegun import freeze_time
from pypdf import PdfReader

from compliance import audit
from compliance.choices import Role
from compliance.models import AuditEvent, Deployment, EvidentialHold
from compliance.services import retention as svc
from tests.compliance.deployment_helpers import draft
from tests.compliance.retention_helpers import alert_for, completed_deployment

pytestmark = pytest.mark.django_db

NOT_DPO = [r for r in Role.values if r != Role.DPO]


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
    operator = make_user(Role.LFR_OPERATOR, username="op-1")
    alerts = alert_for(deployment, operator, n=2) + alert_for(deployment, operator, n=1, outcome="arrest")
    return deployment, alerts, operator


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


# --- Permissions ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", NOT_DPO)
@pytest.mark.parametrize("name", ["dpo_dashboard", "dpo_audit_log", "dpo_retention", "dpo_equality"])
def test_workspace_pages_are_the_dpos_alone(make_user, client_for, role, name):
    response = client_for(make_user(role)).get(reverse(name))
    assert response.status_code == 403


@pytest.mark.parametrize("role", NOT_DPO)
def test_only_the_dpo_verifies_exports_and_builds_audit_packs(make_user, client_for, api_for, finished, role):
    deployment, _alerts, _op = finished
    user = make_user(role)
    assert client_for(user).post(reverse("dpo_verify_chain")).status_code == 403
    assert client_for(user).get(reverse("dpo_audit_pack", args=[deployment.pk])).status_code == 403
    api = api_for(user)
    assert api.get("/api/v1/retention-policies/").status_code == 403
    assert api.post("/api/v1/audit/verify/").status_code == 403
    assert api.get("/api/v1/audit/export.csv").status_code == 403
    assert api.get(f"/api/v1/deployments/{deployment.pk}/audit-pack/").status_code == 403
    assert not AuditEvent.objects.filter(
        action__in=["audit.verified", "audit.exported", "audit.pack_exported"]
    ).exists()


def test_the_home_page_and_nav_show_the_workspace_to_the_dpo(dpo, client_for):
    page = client_for(dpo).get(reverse("home")).content.decode()
    assert "DPO workspace" in page and reverse("dpo_dashboard") in page


# --- Dashboard -----------------------------------------------------------------------------------------------------


def test_dashboard_shows_states_exceptions_retention_image_access_and_thresholds(dpo, client_for, finished):
    deployment, alerts, operator = finished
    audit.record_now("session.gate_refused", actor=operator, deployment_id=deployment.pk, after={"gate": "signage"})
    audit.record_now("alert.image_viewed", actor=operator, target=alerts[0], deployment_id=deployment.pk)

    with freeze_time(deployment.completed_at + datetime.timedelta(days=32)):
        page = client_for(dpo).get(reverse("dpo_dashboard")).content.decode()

    assert "Completed" in page and "session.gate_refused" in page
    assert "3 records due for deletion now" in page
    assert f"matching.alert:{alerts[0].pk}" in page and "op-1" in page  # who viewed which alert image
    assert deployment.reference in page and "within policy" in page and "0.6" in page


def test_the_verify_button_runs_verification_and_audits_it(dpo, client_for):
    client = client_for(dpo)
    assert client.get(reverse("dpo_verify_chain")).status_code == 405
    response = client.post(reverse("dpo_verify_chain"), follow=True)
    assert "Audit chain intact" in response.content.decode()
    event = AuditEvent.objects.get(action="audit.verified")
    assert event.actor_username == "dpo" and event.after["ok"] is True


# --- Audit search and CSV ---------------------------------------------------------------------------------------------


def test_audit_search_filters_by_actor_action_deployment_and_time(dpo, client_for, finished):
    deployment, _alerts, operator = finished
    audit.record_now("alert.image_viewed", actor=operator, deployment_id=deployment.pk)
    client = client_for(dpo)

    page = client.get(reverse("dpo_audit_log"), {"actor": "op-1", "action": "alert."}).content.decode()
    assert "alert.image_viewed" in page and "deployment.created" not in page
    page = client.get(reverse("dpo_audit_log"), {"deployment": deployment.pk}).content.decode()
    assert "deployment.created" in page
    page = client.get(reverse("dpo_audit_log"), {"until": "2000-01-01T00:00:00Z"}).content.decode()
    assert "No events match." in page
    # A filter that cannot be read says so next to its field, tied to it for screen readers.
    from tests.a11y import missing_described_by_targets

    page = client.get(reverse("dpo_audit_log"), {"since": "last tuesday"}).content.decode()
    assert 'aria-invalid="true"' in page and missing_described_by_targets(page) == []


def test_csv_export_holds_the_filtered_events_and_is_audited(dpo, client_for, finished):
    deployment, _alerts, _op = finished
    response = client_for(dpo).get(reverse("dpo_audit_log"), {"action": "deployment.", "format": "csv"})

    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    expected = AuditEvent.objects.filter(action__startswith="deployment.").count()
    assert len(rows) == expected and {r["action"][:11] for r in rows} == {"deployment."}
    assert all(len(r["hash"]) == 64 for r in rows)
    exported = AuditEvent.objects.get(action="audit.exported")
    assert exported.after == {"format": "csv", "rows": expected, "filters": {"action": "deployment."}}


# --- Holds and retention pages ---------------------------------------------------------------------------------------


def test_the_dpo_places_and_lifts_holds_from_the_workspace(dpo, client_for, finished):
    deployment, alerts, _op = finished
    client = client_for(dpo)
    client.post(
        reverse("dpo_holds"),
        {"target_type": "matching.alert", "target_id": alerts[0].pk, "deployment_id": deployment.pk, "reason": "IOPC"},
    )
    hold = EvidentialHold.objects.get()
    assert hold.placed_by == dpo and hold.reason == "IOPC"
    assert "IOPC" in client.get(reverse("dpo_holds")).content.decode()
    client.post(reverse("dpo_hold_lift", args=[hold.pk]), {"reason": "Closed"})
    hold.refresh_from_db()
    assert hold.lifted_by == dpo and hold.lift_reason == "Closed"


def test_the_retention_page_sets_a_policy_and_shows_refusals(dpo, client_for):
    client = client_for(dpo)
    response = client.post(reverse("dpo_retention"), {"data_class": "alert", "period_hours": 9999})
    assert "looser than the statutory maximum" in response.content.decode()
    client.post(reverse("dpo_retention"), {"data_class": "alert", "period_hours": 240, "note": "Tighter"})
    assert svc.retention_hours("alert") == 240
    assert "10 days" in client.get(reverse("dpo_retention")).content.decode()


def test_api_places_and_lifts_holds_and_sets_policies(dpo, api_for, finished, make_user):
    deployment, alerts, _op = finished
    api = api_for(dpo)
    created = api.post(
        "/api/v1/evidential-holds/",
        {"target_type": "matching.alert", "target_id": str(alerts[1].pk), "reason": "Appeal"},
        format="json",
    )
    assert created.status_code == 201, created.content
    lifted = api.post(f"/api/v1/evidential-holds/{created.json()['id']}/lift/", {"reason": "Dismissed"}, format="json")
    assert lifted.json()["lift_reason"] == "Dismissed"
    refused = api.post("/api/v1/retention-policies/", {"data_class": "alert", "period_hours": 10_000}, format="json")
    assert refused.status_code == 400 and refused.json()["error"]["details"]["period_hours"]
    ok = api.post("/api/v1/retention-policies/", {"data_class": "alert", "period_hours": 72}, format="json")
    assert {r["data_class"]: r["period_hours"] for r in ok.json()}["alert"] == 72
    verify = api.post("/api/v1/audit/verify/")
    assert verify.json()["ok"] is True
    assert api_for(make_user(Role.AUTHORISING_OFFICER)).get("/api/v1/evidential-holds/").status_code == 200


# --- The audit pack --------------------------------------------------------------------------------------------------


def test_audit_pack_of_an_unknown_deployment_is_404_and_exports_nothing(dpo, client_for, api_for):
    assert client_for(dpo).get(reverse("dpo_audit_pack", args=[999_999])).status_code == 404
    assert api_for(dpo).get("/api/v1/deployments/999999/audit-pack/").status_code == 404
    assert not AuditEvent.objects.filter(action="audit.pack_exported").exists()


def test_the_dpo_exports_the_audit_pack_of_a_draft_too(dpo, make_user, client_for, api_for):
    # The DPO audits everything, drafts included (the deployment selector's rule for the DPO).
    deployment = draft(make_user(Role.APPLICANT))

    web = client_for(dpo).get(reverse("dpo_audit_pack", args=[deployment.pk]))
    api = api_for(dpo).get(f"/api/v1/deployments/{deployment.pk}/audit-pack/")

    assert web.status_code == api.status_code == 200
    assert f"Audit pack {deployment.reference}" in _text(web.content)
    assert AuditEvent.objects.filter(action="audit.pack_exported").count() == 2


def test_audit_pack_holds_authorisation_records_sessions_statistics_retention_and_chain(dpo, client_for, finished):
    deployment, alerts, _op = finished
    deployment = Deployment.objects.get(pk=deployment.pk)
    svc.evidential_hold_place(actor=dpo, target_type="matching.alert", target_id=alerts[2].pk, reason="Trial")
    with freeze_time(deployment.completed_at + datetime.timedelta(days=32)):
        svc.retention_enforce(trigger="test")
    snapshot_hash = deployment.authorisations.first().snapshot_hash

    response = client_for(dpo).get(reverse("dpo_audit_pack", args=[deployment.pk]))
    exported = AuditEvent.objects.get(action="audit.pack_exported")
    last_hash = exported.prev_hash  # the pack shows the last event before its own export

    assert response["Content-Type"] == "application/pdf"
    text = _text(response.content)
    flat = re.sub(r"\s+", "", text)
    assert f"Audit pack {deployment.reference}" in text
    assert snapshot_hash in flat and last_hash in flat
    for heading in (
        "Authorisation decisions",
        "Watch-list (no identities)",
        "Signage",
        "Leaflets",
        "Public notice",
        "Sessions",
        "Alert statistics and adjudication outcomes",
        "Retention evidence",
        "Audit chain verification",
    ):
        assert heading in text, text
    assert "Total alerts" in text and "Outcome: Arrest" in text and "Intact" in text
    words = " ".join(text.split())
    assert "retention.verified" in words and "Evidential hold on matching.alert" in words and "Trial" in words
    assert deployment.public_notice_where in text
    exported = AuditEvent.objects.get(action="audit.pack_exported")
    assert exported.deployment_id == deployment.pk and len(exported.after["sha256"]) == 64


def test_a_hold_is_placed_only_on_a_record_whose_data_is_still_kept(dpo, finished):
    """A hold on anything else protected nothing: the sweep matches holds by exact type and id."""
    from lfr_portal.errors import NotFound, RuleViolation
    from matching.services.alerts import alert_destroy_probe

    deployment, alerts, _op = finished
    cases = (("alert", alerts[0].pk), ("matching.alert", "x1"), ("matching.alert", "²"), ("matching.watchlist", 1))
    for target_type, target_id in cases:
        with pytest.raises(RuleViolation):
            svc.evidential_hold_place(actor=dpo, target_type=target_type, target_id=target_id, reason="IOPC")
    with pytest.raises(NotFound):
        svc.evidential_hold_place(actor=dpo, target_type="matching.alert", target_id=999_999, reason="IOPC")
    alert_destroy_probe(actor=dpo, alert_id=alerts[1].pk, reason="test")
    with pytest.raises(NotFound):
        svc.evidential_hold_place(actor=dpo, target_type="matching.alert", target_id=alerts[1].pk, reason="IOPC")

    hold = svc.evidential_hold_place(
        actor=dpo, target_type="matching.alert", target_id=f"00{alerts[0].pk}", reason="IOPC"
    )

    assert (hold.target_id, hold.deployment_id) == (str(alerts[0].pk), deployment.pk)
    assert not EvidentialHold.objects.exclude(pk=hold.pk).exists()
