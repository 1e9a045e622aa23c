"""PDFs open in a reader (pypdf parses them) and carry the figures shown on screen."""

from __future__ import annotations

import datetime
import io
import re

import pytest
from django.utils import timezone
from pypdf import PdfReader

from compliance import pdfs
from compliance.choices import Role
from compliance.models import AuditEvent, Deployment
from compliance.pdf_audit_pack import audit_pack_pdf
from compliance.services import deployments as svc
from tests.compliance import deployment_helpers as h

pytestmark = pytest.mark.django_db


def _text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))


def test_authorisation_record_contains_application_decision_hash_and_signatures(users):
    deployment = h.authorised(users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER])
    text = _text(pdfs.authorisation_record_pdf(deployment))
    authorisation = deployment.authorisation
    assert deployment.reference in text
    assert "High Street, Newtown" in text
    assert "Necessary and proportionate." in text
    assert authorisation.snapshot_hash in text.replace(" ", "")
    assert "Signatures" in text and "Authorising Officer" in text
    assert "DPIA-LFR-7" in text and "EIA-LFR-2" in text and "APD-2024" in text


def test_deployment_record_contains_the_published_figures(users):
    applicant, ao = users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER]
    deployment = h.authorised(applicant, ao)
    start = timezone.now() - datetime.timedelta(hours=3)
    sign = svc.signage_record_add(
        actor=applicant, deployment=deployment, position_description="Station exit", sign_count=3, placed_at=start,
    )  # fmt: skip
    svc.leaflet_record_add(actor=applicant, deployment=deployment, count=40, shift_start=start, shift_description="Day")
    svc.deployment_close(actor=ao, deployment=deployment, reason="done")
    svc.signage_record_update(actor=applicant, record=sign, removed_at=start + datetime.timedelta(hours=2))
    svc.deployment_review(actor=ao, deployment=deployment, objective_met="partly", outcome_summary="One arrest.")
    deployment = Deployment.objects.get(pk=deployment.pk)
    text = _text(pdfs.deployment_record_pdf(deployment))
    for expected in ("Deployment Location", "Min Threshold Setting", "False Alert Rate", "Faces seen (estimate)"):
        assert expected in text
    assert "0.5" in text and "Station exit" in text and "One arrest." in text
    # domain.md 2.4: placed and removed by whom, leaflets by whom, in the record and the audit pack.
    name = str(applicant)
    for document in (text, _text(audit_pack_pdf(deployment))):
        assert f"by {name}; removed" in document and f"40 handed out by {name} (Day)" in document


def test_pdf_download_from_page_and_api(users, client_for, api_for):
    deployment = h.authorised(users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER])
    response = client_for(users[Role.AUTHORISING_OFFICER]).get(f"/deployments/{deployment.pk}/authorisation.pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert deployment.reference in _text(response.content)
    response = api_for(users[Role.DPO]).get(f"/api/v1/deployments/{deployment.pk}/record-pdf/")
    assert response.status_code == 200 and response.content.startswith(b"%PDF")


def test_every_pdf_export_is_audited_with_its_hash(users, client_for, api_for):
    import hashlib

    from compliance.models import AuditEvent

    deployment = h.authorised(users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER])
    page = client_for(users[Role.AUTHORISING_OFFICER]).get(f"/deployments/{deployment.pk}/authorisation.pdf")
    api = api_for(users[Role.DPO]).get(f"/api/v1/deployments/{deployment.pk}/record-pdf/")
    events = list(AuditEvent.objects.filter(action="deployment.pdf_exported", deployment_id=deployment.pk))
    assert [(e.actor_username, e.after["kind"]) for e in events] == [
        (users[Role.AUTHORISING_OFFICER].username, "authorisation"),
        (users[Role.DPO].username, "record"),
    ]
    assert events[0].after["sha256"] == hashlib.sha256(page.content).hexdigest()
    assert events[1].after["sha256"] == hashlib.sha256(api.content).hexdigest()


def test_an_officer_who_may_not_see_the_deployment_gets_no_pdf_and_no_export_is_recorded(users, make_user):
    from lfr_portal.errors import NotPermitted

    deployment = h.authorised(users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER])
    stranger = make_user(Role.APPLICANT)  # another applicant: deployment_list shows them only their own
    for kind in ("authorisation", "record"):
        with pytest.raises(NotPermitted):
            svc.deployment_export_pdf(actor=stranger, deployment=deployment, kind=kind)
    assert not AuditEvent.objects.filter(action="deployment.pdf_exported").exists()
    assert svc.deployment_export_pdf(actor=users[Role.APPLICANT], deployment=deployment, kind="record")


def test_the_audit_pack_shows_what_was_authorised_where_the_application_changed_since(users):
    """The pack printed only the application as it stands: after a material change voided the authorisation,
    an auditor could not see what the AO had actually authorised."""
    deployment = h.authorised(users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER])
    authorised_location = deployment.location_name
    svc.deployment_update(actor=users[Role.APPLICANT], deployment=deployment, location_name="Market Square")
    deployment = Deployment.objects.get(pk=deployment.pk)

    text = _text(audit_pack_pdf(deployment))

    assert "where it differs from the application above" in text
    assert f"Location name {authorised_location}" in text and "Market Square" in text
    record = _text(pdfs.authorisation_record_pdf(deployment))  # the record beside a voided decision says so too
    assert f"Location name {authorised_location}" in record
    untouched = h.authorised(users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER], title="Second")
    assert "where it differs" not in _text(audit_pack_pdf(untouched))


def test_the_decision_shows_the_deciders_rank_when_they_decided_not_now(users, make_user):
    """The PDFs printed the officer's rank as it is today: a promotion rewrote who had authorised (domain.md 7: a
    frozen copy of name and role)."""
    from compliance.choices import Rank
    from compliance.models import User

    ao = users[Role.AUTHORISING_OFFICER]
    deployment = h.authorised(users[Role.APPLICANT], ao)
    rejecter = make_user(Role.AUTHORISING_OFFICER, username="rejecting-ao")
    rejected = h.submitted(users[Role.APPLICANT], title="Rejected one")
    svc.deployment_reject(actor=rejecter, deployment=rejected, rationale="Grounds too thin.")
    for officer in (ao, rejecter):
        User.objects.filter(pk=officer.pk).update(rank=Rank.CHIEF_CONSTABLE, username=f"renamed-{officer.pk}")

    for document in (pdfs.authorisation_record_pdf(deployment), audit_pack_pdf(deployment)):
        text = _text(document)
        assert f"Decided by {ao.username} (Superintendent)" in text
        assert "Chief Constable" not in text and "renamed" not in text
    text = _text(pdfs.authorisation_record_pdf(Deployment.objects.get(pk=rejected.pk)))
    assert "Decided by rejecting-ao (Superintendent)" in text and "Chief Constable" not in text


def test_each_decision_shows_its_own_decider(users, make_user):
    """Re-authorised by another AO after a change voided the first authorisation: each decision names its own
    decider as they were then."""
    from compliance.choices import Rank

    applicant, first_ao = users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER]
    second_ao = make_user(Role.AUTHORISING_OFFICER, username="second-ao", rank=Rank.CHIEF_SUPERINTENDENT)
    deployment = h.authorised(applicant, first_ao)
    svc.deployment_update(actor=applicant, deployment=deployment, location_name="Market Square")
    svc.deployment_authorise(
        actor=second_ao, deployment=deployment, rationale="Still necessary.", expires_at=h.expiry()
    )

    text = _text(audit_pack_pdf(Deployment.objects.get(pk=deployment.pk)))

    assert f"Decided by {first_ao.username} (Superintendent)" in text
    assert "Decided by second-ao (Chief Superintendent)" in text
