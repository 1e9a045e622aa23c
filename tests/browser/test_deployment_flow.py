"""End to end in Chromium: an applicant drafts and submits; an Authorising Officer (TOTP) authorises; the PDF."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from compliance.choices import DeploymentStatus
from compliance.models import AuditEvent, Deployment
from tests.browser.conftest import sign_in
from tests.compliance.deployment_helpers import camera

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _local(dt: datetime.datetime, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return timezone.localtime(dt).strftime(fmt)


def _fill_application(page) -> None:
    start = (timezone.now() + datetime.timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    page.get_by_label("Title").fill("Market Square knife crime operation")
    page.get_by_label("Use case").select_option("crime_hotspot")
    page.get_by_label("Objectives").fill("Locate people wanted for knife crime offences.")
    page.get_by_label("Knife crime").check()
    page.get_by_label("Location name").fill("Market Square, Newtown")
    page.get_by_label("Location address").fill("Market Square, Newtown")
    page.get_by_label("Latitude").fill("51.5")
    page.get_by_label("Longitude").fill("-0.12")
    page.get_by_label("Zone of recognition").fill("20 m around the van")
    page.get_by_label("Grounds for believing sought persons will be present").fill(
        "Twelve knife robberies in the square in three months; intelligence places two suspects here."
    )
    page.get_by_label("Time windows").fill(f"{_local(start)} to {_local(start + datetime.timedelta(hours=6))}")
    page.get_by_label("Necessity").fill("Patrols have not located the suspects.")
    page.get_by_label("Proportionality").fill("Six hours, a small watch-list, signage and leaflets.")
    page.get_by_label("Less intrusive alternatives considered").fill("Patrols, CCTV review, media appeals.")
    page.get_by_label("Wanted by the courts (warrant)").check()
    page.get_by_label("Maximum watch-list size").fill("25")
    page.get_by_label("Match threshold").fill("0.5")
    page.get_by_label("DPIA reference").fill("DPIA-LFR-7")
    page.get_by_label("DPIA version").fill("3.1")
    page.get_by_label("Equality Impact Assessment reference").fill("EIA-2")
    page.get_by_label("Appropriate Policy Document reference").fill("APD-2024")
    notice = timezone.now() - datetime.timedelta(hours=1)
    page.get_by_label("Public notice given at").fill(_local(notice, "%Y-%m-%dT%H:%M"))
    page.get_by_label("Public notice given where").fill("Force website")
    page.get_by_label("Public notice text").fill("LFR will be used in Market Square on Saturday.")
    page.get_by_label("I attest the system is not linked to CCTV, body-worn video or ANPR").check()
    page.get_by_label("van-7").check()


def test_applicant_submits_and_authorising_officer_authorises_with_pdf(browser, live_server, make_user):
    applicant = make_user("applicant", username="planner")
    officer = make_user("authorising_officer", username="supt")
    camera("van-7")

    applicant_page = browser.new_context(base_url=live_server.url).new_page()
    sign_in(applicant_page, applicant)
    applicant_page.goto("/deployments/new/")
    _fill_application(applicant_page)
    applicant_page.get_by_role("button", name="Save draft").click()
    applicant_page.get_by_role("button", name="Submit for authorisation").click()
    deployment = Deployment.objects.get()
    assert deployment.status == DeploymentStatus.SUBMITTED

    page = browser.new_context(base_url=live_server.url).new_page()
    sign_in(page, officer)
    page.wait_for_url(f"{live_server.url}/")
    page.get_by_role("link", name=deployment.reference).first.click()
    page.get_by_role("link", name="Authorise or reject").click()
    page.get_by_label("Authorise", exact=True).check()
    page.get_by_label("Rationale (or reasons for rejection)").fill("Intelligence-led, proportionate, time-bound.")
    expiry = timezone.now() + datetime.timedelta(days=7)
    page.get_by_label("Authorisation expires at").fill(_local(expiry, "%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Record decision").click()

    page.wait_for_url(f"**/deployments/{deployment.pk}/")
    assert "Authorised" in page.locator("main").inner_text()
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.AUTHORISED
    assert AuditEvent.objects.filter(action="deployment.authorised", deployment_id=deployment.pk).exists()

    # Chromium shows PDFs inline rather than downloading them: fetch the link with the page's own session.
    href = page.get_by_role("link", name="Authorisation record (PDF)").get_attribute("href")
    response = page.request.get(href)
    assert response.ok and response.headers["content-type"] == "application/pdf"
    assert response.body().startswith(b"%PDF-")
