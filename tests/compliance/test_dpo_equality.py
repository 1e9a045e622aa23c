"""Equality monitoring (Bridges ground 5): DPO-configured self-described fields, recorded optionally with an
adjudication, never inferred; the DPO sees false-alert counts by those fields over time."""

from __future__ import annotations

import pytest
from django.urls import reverse

from compliance.choices import Role
from compliance.models import AuditEvent, EqualityRecord
from compliance.selectors import retention as sel
from compliance.services import retention as svc
from lfr_portal.errors import NotPermitted, RuleViolation
from tests.compliance.retention_helpers import alert_for, completed_deployment

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(make_user):
    dpo = make_user(Role.DPO)
    officer = make_user(Role.ENGAGEMENT_OFFICER)
    deployment = completed_deployment(make_user(Role.APPLICANT), make_user(Role.AUTHORISING_OFFICER))
    field = svc.equality_field_create(
        actor=dpo, name="ethnicity", label="Ethnicity (self-described)", choices=["Asian", "Black", "White", "Other",
                                                                                    "Prefer not to say"]
    )  # fmt: skip
    return dpo, officer, deployment, field


@pytest.mark.parametrize("role", [r for r in Role.values if r != Role.DPO])
def test_only_the_dpo_configures_fields(make_user, role):
    with pytest.raises(NotPermitted):
        svc.equality_field_create(actor=make_user(role), name="x", label="X", choices=["a", "b"])


def test_values_are_optional_closed_and_counted_as_false_alerts_by_month(setup, make_user, client_for):
    dpo, officer, deployment, _field = setup
    dismissed = alert_for(deployment, officer, n=2)  # false alerts
    engaged = alert_for(deployment, officer, n=1, outcome="arrest")
    svc.equality_record_for_alert(actor=officer, alert=dismissed[0], values={"ethnicity": "Black"})
    svc.equality_record_for_alert(actor=officer, alert=dismissed[1], values={"ethnicity": "Black"})
    svc.equality_record_for_alert(actor=officer, alert=engaged[0], values={"ethnicity": "White"})
    svc.equality_record_for_alert(actor=officer, alert=engaged[0], values={})  # declining is allowed
    with pytest.raises(RuleViolation):
        svc.equality_record_for_alert(actor=officer, alert=dismissed[0], values={"ethnicity": "Martian"})
    with pytest.raises(RuleViolation):
        svc.equality_record_for_alert(actor=officer, alert=dismissed[0], values={"age": "30"})

    counts = {(r["value"], r["false_alerts"], r["recorded"]) for r in sel.equality_false_alert_counts(user=dpo)}
    assert counts == {("Black", 2, 2)}  # the engaged alert's values were withdrawn
    assert EqualityRecord.objects.count() == 3
    # The audit log names the fields recorded, never the values.
    assert all("Black" not in str(e.after) for e in AuditEvent.objects.filter(action="equality.recorded"))
    page = client_for(dpo).get(reverse("dpo_equality")).content.decode()
    assert "Ethnicity (self-described)" in page and "Black" in page
    assert sel.equality_false_alert_counts(user=officer) == []
