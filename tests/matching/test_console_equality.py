"""Equality monitoring in the live console (issue 7, Bridges ground 5): the DPO's active fields appear as optional
inputs in the engagement officer's form, values are recorded with the engagement, never required, never guessed."""

from __future__ import annotations

import pytest
from django.utils import timezone

from compliance.models import AuditEvent, EqualityRecord
from compliance.services import retention as retention_services
from lfr_portal.errors import RuleViolation
from matching.models import Alert
from matching.models.sessions import AlertStatus
from matching.services import alerts as alert_services
from matching.services import frames as frame_services
from matching.services import sessions as session_services
from tests.matching.live_helpers import face_jpeg

pytestmark = pytest.mark.django_db

HINT = "Only as self-described by the person; never guess."


@pytest.fixture
def referred(live) -> Alert:
    session = session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=live.camera)
    accepted = frame_services.frame_submit(
        actor=live.principal, session_id=session.pk, data=face_jpeg(), captured_at=timezone.now()
    )
    frame_services.frame_process(session_id=session.pk, frame_id=accepted.frame_id, captured_at=timezone.now())
    return alert_services.alert_refer(actor=live.operator, alert=Alert.objects.get())


@pytest.fixture
def fields(live):
    ethnicity = retention_services.equality_field_create(
        actor=live.dpo, name="ethnicity", label="Ethnicity (self-described)", choices=["Black", "White", "Other"]
    )
    retention_services.equality_field_create(
        actor=live.dpo, name="age_band", label="Age band (self-described)", choices=["Under 25", "25 and over"]
    )
    retired = retention_services.equality_field_create(
        actor=live.dpo, name="retired_field", label="Retired field", choices=["a", "b"]
    )
    retention_services.equality_field_set_active(actor=live.dpo, field_id=retired.pk, active=False)
    return ethnicity


def _console(client, alert) -> str:
    return client.get(f"/sessions/{alert.session_id}/console/alerts/").content.decode()


def _engage(client, alert, **extra):
    data = {"action": "engagement", "located": "yes", "identity_confirmed": "no", "outcome": "no_action", **extra}
    return client.post(f"/alerts/{alert.pk}/adjudicate/", data)


def test_the_active_fields_appear_as_optional_inputs_in_the_engagement_form(live, referred, fields, client_for):
    page = _console(client_for(live.engagement), referred)

    assert f'data-testid="equality-{referred.pk}"' in page and HINT in page
    assert 'name="eq_ethnicity"' in page and 'name="eq_age_band"' in page and "Ethnicity (self-described)" in page
    assert f'<label for="eq-{referred.pk}-ethnicity">' in page and f'id="eq-{referred.pk}-ethnicity"' in page
    assert 'name="eq_retired_field"' not in page
    assert "required" not in page.split(f'data-testid="equality-{referred.pk}"')[1].split("</fieldset>")[0]


def test_the_operator_sees_no_monitoring_inputs(live, referred, fields, client_for):
    assert "eq_ethnicity" not in _console(client_for(live.operator), referred)


def test_no_monitoring_inputs_when_the_dpo_configured_none(live, referred, client_for):
    page = _console(client_for(live.engagement), referred)
    assert "Record engagement" in page and "eq_" not in page and HINT not in page


def test_values_are_recorded_with_the_engagement_and_shown_to_the_dpo(live, referred, fields, client_for):
    response = _engage(client_for(live.engagement), referred, eq_ethnicity="Black", eq_age_band="")

    assert response.status_code == 302
    assert Alert.objects.get(pk=referred.pk).status == AlertStatus.ENGAGED
    record = EqualityRecord.objects.get(alert_id=referred.pk)
    assert record.values == {"ethnicity": "Black"} and record.false_alert is True  # identity not confirmed
    event = AuditEvent.objects.get(action="equality.recorded")
    assert event.after["fields"] == ["ethnicity"] and "Black" not in str(event.after)  # names only, never values
    dpo_page = client_for(live.dpo).get("/dpo/equality/").content.decode()
    row = dpo_page.split("<tbody>")[-1]
    assert "ethnicity" in row and "Black" in row and "Nothing recorded yet." not in row


def test_nothing_is_required_and_no_record_is_made_when_left_blank(live, referred, fields, client_for):
    response = _engage(client_for(live.engagement), referred, eq_ethnicity="", eq_age_band="")

    assert response.status_code == 302 and Alert.objects.get(pk=referred.pk).status == AlertStatus.ENGAGED
    assert not EqualityRecord.objects.exists() and not AuditEvent.objects.filter(action="equality.recorded").exists()


def test_a_value_outside_the_offered_choices_refuses_the_whole_engagement(live, referred, fields, client_for):
    response = _engage(client_for(live.engagement), referred, eq_ethnicity="Martian")

    assert response.status_code == 302
    assert Alert.objects.get(pk=referred.pk).status == AlertStatus.REFERRED  # one transaction: nothing half-recorded
    assert not EqualityRecord.objects.exists()
    assert not AuditEvent.objects.filter(action="alert.engaged").exists()


def test_a_person_not_located_cannot_be_described(live, referred, fields):
    with pytest.raises(RuleViolation):
        alert_services.alert_record_engagement(
            actor=live.engagement, alert=referred, located=False, self_described={"ethnicity": "White"}
        )
    assert Alert.objects.get(pk=referred.pk).status == AlertStatus.REFERRED
    assert not EqualityRecord.objects.exists()


# --- The same through the API: an engagement officer's client reads the fields, then engages with the values ---


def _api_engage(client, alert, **extra):
    body = {"located": True, "identity_confirmed": True, "outcome": "arrest", **extra}
    return client.post(f"/api/v1/alerts/{alert.pk}/engagement/", body, format="json")


def test_the_api_lists_the_fields_a_client_may_record_and_the_dpo_sees_the_retired_ones_too(live, fields, api_for):
    recorder = api_for(live.engagement).get("/api/v1/equality-fields/")
    assert recorder.status_code == 200
    assert recorder.json() == [
        {"name": "age_band", "label": "Age band (self-described)", "choices": ["Under 25", "25 and over"],
         "active": True},
        {"name": "ethnicity", "label": "Ethnicity (self-described)", "choices": ["Black", "White", "Other"],
         "active": True},
    ]  # fmt: skip
    assert [f["name"] for f in api_for(live.operator).get("/api/v1/equality-fields/").json()] == [
        "age_band",
        "ethnicity",
    ]
    dpo = api_for(live.dpo).get("/api/v1/equality-fields/").json()
    assert {f["name"]: f["active"] for f in dpo} == {"age_band": True, "ethnicity": True, "retired_field": False}
    for role in (live.admin, live.ao):
        assert api_for(role).get("/api/v1/equality-fields/").status_code == 403


def test_values_sent_with_an_api_engagement_are_recorded_with_it(live, referred, fields, api_for):
    response = _api_engage(api_for(live.engagement), referred, self_described={"ethnicity": "White", "age_band": ""})

    assert response.status_code == 200 and response.json()["status"] == AlertStatus.ENGAGED
    record = EqualityRecord.objects.get(alert_id=referred.pk)
    assert record.values == {"ethnicity": "White"} and record.false_alert is False  # identity confirmed
    event = AuditEvent.objects.get(action="equality.recorded")
    assert event.after["fields"] == ["ethnicity"] and "White" not in str(event.after)


def test_an_api_engagement_with_a_value_outside_the_choices_records_nothing(live, referred, fields, api_for):
    response = _api_engage(api_for(live.engagement), referred, self_described={"ethnicity": "Martian", "mood": "x"})

    assert response.status_code == 400
    assert set(response.json()["error"]["details"]) == {"ethnicity", "mood"}  # says which values are wrong
    assert Alert.objects.get(pk=referred.pk).status == AlertStatus.REFERRED
    assert not EqualityRecord.objects.exists()


def test_an_api_engagement_without_values_or_with_the_person_not_located(live, referred, fields, api_for):
    client = api_for(live.engagement)
    refused = _api_engage(client, referred, located=False, self_described={"ethnicity": "Black"})
    assert refused.status_code == 400 and Alert.objects.get(pk=referred.pk).status == AlertStatus.REFERRED
    assert _api_engage(client, referred).status_code == 200  # the field stays optional
    assert not EqualityRecord.objects.exists()


def test_a_form_encoded_engagement_is_refused_rather_than_read_as_not_located(live, referred, api_for):
    # A form body cannot tell an absent boolean from false: without `located` it would have read "not located",
    # a final state that feeds the published counts. The API takes JSON only, except for uploads.
    client = api_for(live.engagement)
    response = client.post(
        f"/api/v1/alerts/{referred.pk}/engagement/", {"identity_confirmed": "true", "outcome": "arrest"}
    )  # APIClient's default: multipart
    assert response.status_code == 415 and response.json()["error"]["code"] == "unsupported_media_type"
    assert Alert.objects.get(pk=referred.pk).status == AlertStatus.REFERRED
    missing = client.post(
        f"/api/v1/alerts/{referred.pk}/engagement/", {"identity_confirmed": True, "outcome": "arrest"}, format="json"
    )
    assert missing.status_code == 400 and "located" in missing.json()["error"]["details"]
