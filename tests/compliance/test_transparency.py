"""The public transparency record (domain.md 2.5): Met columns, computed figures, CSV, and no personal data."""

from __future__ import annotations

import csv
import datetime
import io

import pytest
from django.test import Client
from django.utils import timezone
from freezegun import freeze_time

from compliance import transparency
from compliance.choices import DeploymentStatus, Role
from compliance.models import AuditEvent, Deployment
from compliance.selectors.deployments import deployment_awaiting_review, deployment_published_list
from compliance.services import deployments as svc
from compliance.views import transparency as transparency_views
from lfr_portal.errors import InvalidTransition
from tests.compliance import deployment_helpers as h
from tests.compliance.retention_helpers import alert_for

pytestmark = pytest.mark.django_db

MET_HEADINGS = [
    "Deployment Location",
    "Date",
    "Duration",
    "LFR Use Case",
    "Watchlist Size",
    "Min Threshold Setting",
    "Total Alerts",
    "True Alerts – Confirmed",
    "True Alerts – Unconfirmed",
    "False Alerts – Confirmed",
    "False Alerts – Unconfirmed",
    "False Alert Rate",
    "Outcome – Arrest",
    "Outcome – Other",
    "No action",
    "Faces seen (estimate)",
    "Engagements",
]


@pytest.fixture
def published(users):
    applicant, ao = users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER]
    deployment = h.authorised(applicant, ao)
    svc.deployment_set_assigned_officers(
        actor=applicant, deployment=deployment, officer_ids=[users[Role.LFR_OPERATOR].pk]
    )
    svc.deployments_complete_finished(at=deployment.windows.get().end)
    svc.deployment_review(actor=ao, deployment=deployment, objective_met="yes", outcome_summary="Arrests made.")
    return Deployment.objects.get(pk=deployment.pk)


@pytest.fixture
def providers():
    saved = (list(transparency._statistics), list(transparency._watchlist_size))
    yield
    transparency._statistics[:], transparency._watchlist_size[:] = saved


# Added after the Met's columns, so the Met's stay where they were.
ADDED_HEADINGS = ["Authorised window time", "Status"]


def test_columns_are_the_met_format_then_the_added_ones():
    assert [str(label) for _key, label in transparency.COLUMNS] == MET_HEADINGS + ADDED_HEADINGS


def test_figures_are_zero_without_providers(published, providers):
    transparency._statistics.clear()
    transparency._watchlist_size.clear()
    record = transparency.deployment_record(published)
    for key in ("total_alerts", "true_confirmed", "false_unconfirmed", "outcome_arrest", "faces_seen", "engagements"):
        assert record[key] == 0
    assert record["watchlist_size"] == 0
    assert record["min_threshold"] == 0.5
    # Without session figures nothing ran: the duration is 0, and the authorised window time up to completion is
    # published in its own column.
    window = published.windows.get()
    Deployment.objects.filter(pk=published.pk).update(completed_at=window.end + datetime.timedelta(hours=1))
    record = transparency.deployment_record(Deployment.objects.get(pk=published.pk))
    assert (record["duration"], record["window_duration"]) == ("0h 00m", "8h 00m")
    Deployment.objects.filter(pk=published.pk).update(completed_at=window.start + datetime.timedelta(hours=2))
    record = transparency.deployment_record(Deployment.objects.get(pk=published.pk))
    assert (record["duration"], record["window_duration"]) == ("0h 00m", "2h 00m")


def test_figures_come_from_the_registered_providers(published, providers):
    transparency.register_statistics_provider(
        lambda d: {
            "total_alerts": 5, "true_confirmed": 3, "true_unconfirmed": 0, "false_confirmed": 1,
            "false_unconfirmed": 1, "outcome_arrest": 2, "outcome_other": 1, "no_action": 0,
            "engagements": 4, "faces_seen": 20000, "duration_seconds": 3600 * 5 + 60 * 30,
        }
    )  # fmt: skip
    transparency.register_watchlist_size_provider(lambda d: 42)
    record = transparency.deployment_record(published)
    assert record["total_alerts"] == 5 and record["watchlist_size"] == 42
    assert record["false_alert_rate"] == "0.0100%"
    assert record["duration"] == "5h 30m"


def test_public_page_needs_no_login_and_lists_published_only(published, users):
    unpublished = h.authorised(users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER])
    response = Client().get("/transparency/")
    assert response.status_code == 200
    html = response.content.decode()
    assert published.reference in html and unpublished.reference not in html
    for heading in MET_HEADINGS:
        assert heading in html


def test_public_detail_shows_location_date_use_case_and_notice(published):
    response = Client().get(f"/transparency/{published.reference}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "High Street, Newtown" in html
    assert "Crime hotspot" in html
    assert "Live facial recognition will be used on High Street this week." in html


def test_unpublished_detail_is_404(users):
    deployment = h.authorised(users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER])
    assert Client().get(f"/transparency/{deployment.reference}/").status_code == 404


def test_csv_has_met_headings_and_one_row_per_record(published):
    Deployment.objects.filter(pk=published.pk).update(completed_at=published.windows.get().end)
    response = Client().get("/transparency/deployment-records.csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["Reference", *MET_HEADINGS, *ADDED_HEADINGS]
    assert len(rows) == 2 and rows[1][0] == published.reference and rows[1][1] == "High Street, Newtown"
    # No session ran: the Met's Duration (time matching was live) is 0, the authorised window time is beside it.
    assert rows[1][3] == "0h 00m" and rows[1][-2:] == ["8h 00m", "Completed"]


def test_nothing_personal_is_published(published, users):
    names = set()
    for user in users.values():
        names |= {user.username, user.get_full_name(), user.last_name and f"{user.first_name} {user.last_name}"}
    pages = [
        Client().get("/transparency/").content.decode(),
        Client().get(f"/transparency/{published.reference}/").content.decode(),
        Client().get("/transparency/deployment-records.csv").content.decode("utf-8-sig"),
        str(Client().get("/api/v1/transparency/").json()),
        str(Client().get(f"/api/v1/transparency/{published.reference}/").json()),
    ]
    for page in pages:
        for name in filter(None, names):
            assert name not in page, name
        assert "Arrests made." not in page  # the internal review stays internal
        assert published.location_grounds not in page  # operational intelligence stays internal


def test_public_api_lists_records(published):
    data = Client().get("/api/v1/transparency/").json()
    assert [r["reference"] for r in data] == [published.reference]
    assert set(data[0]) >= {"location", "date", "duration", "use_case", "false_alert_rate", "engagements"}


def test_a_deployment_closed_early_publishes_the_days_and_windows_it_ran(users):
    """Closed on the first of three days, the record showed all three days beside a duration of one day's hours,
    and listed windows that never ran (domain.md 2.5: computed from the system's own records)."""
    applicant, ao = users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER]
    deployment = h.authorised(applicant, ao, window_list=h.windows(count=3))
    first_start = deployment.windows.order_by("start").first().start
    closed_at = first_start + datetime.timedelta(hours=2)
    with freeze_time(closed_at):
        svc.deployment_close(actor=ao, deployment=deployment, reason="Operation concluded on day one.")
        svc.deployment_review(actor=ao, deployment=deployment, objective_met="yes", outcome_summary="Done.")
    deployment = Deployment.objects.get(pk=deployment.pk)

    record = transparency.public_detail(deployment)

    assert record["date"] == f"{timezone.localtime(first_start):%d/%m/%Y}"
    assert record["window_duration"] == "2h 00m"
    assert record["windows"] == [(first_start, deployment.completed_at)]


# ----------------------------------------------------------------------------------------------------------------
# A deployment revoked after it ran (domain.md 2, 2.5: revoked is final; a deployment that ran is reviewed and
# published)

REVOCATION_REASON = "Intelligence source compromised; see DI Example's note."


def _revoked(users, *, ran: bool) -> Deployment:
    """Three authorised days; when `ran`, a one-hour session with two arrests on day one; revoked on day two, two
    hours into its window."""
    applicant, ao = users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER]
    deployment = h.authorised(applicant, ao, window_list=h.windows(count=3))
    start = deployment.windows.order_by("start").first().start
    if ran:
        alert_for(deployment, users[Role.LFR_OPERATOR], n=2, outcome="arrest", start=start)
    with freeze_time(start + datetime.timedelta(days=1, hours=2)):
        svc.deployment_revoke(actor=ao, deployment=deployment, reason=REVOCATION_REASON)
    return Deployment.objects.get(pk=deployment.pk)


def _review(ao, deployment: Deployment) -> None:
    with freeze_time(deployment.revoked_at + datetime.timedelta(days=1)):
        svc.deployment_review(
            actor=ao, deployment=deployment, objective_met="partly", outcome_summary="Two arrests before revocation."
        )


def _public_pages(reference: str) -> list[str]:
    return [
        Client().get("/transparency/").content.decode(),
        Client().get(f"/transparency/{reference}/").content.decode(),
        Client().get("/transparency/deployment-records.csv").content.decode("utf-8-sig"),
        str(Client().get("/api/v1/transparency/").json()),
        str(Client().get(f"/api/v1/transparency/{reference}/").json()),
    ]


def test_a_deployment_revoked_after_it_ran_is_reviewed_and_published_as_revoked(users):
    """Revoked on day two after running, it never reached review, the transparency page or the CSV."""
    ao = users[Role.AUTHORISING_OFFICER]
    deployment = _revoked(users, ran=True)
    assert deployment_awaiting_review(user=ao).filter(pk=deployment.pk).exists()
    assert not deployment_published_list().filter(pk=deployment.pk).exists()
    assert Client().get(f"/transparency/{deployment.reference}/").status_code == 404

    _review(ao, deployment)

    deployment = Deployment.objects.get(pk=deployment.pk)
    assert deployment.status == DeploymentStatus.REVOKED  # revocation stays final
    assert deployment.reviewed_at is not None and deployment.review.outcome_summary == "Two arrests before revocation."
    event = AuditEvent.objects.get(action="deployment.reviewed", deployment_id=deployment.pk)
    assert event.before == {"status": "revoked"} and event.after["status"] == "revoked" and event.after["published"]
    assert not deployment_awaiting_review(user=ao).filter(pk=deployment.pk).exists()
    assert list(deployment_published_list()) == [deployment]

    # The figures come from the records as for a reviewed deployment; the windows stop at the revocation.
    record = transparency.public_detail(deployment)
    first_start = deployment.windows.order_by("start").first().start
    assert (record["total_alerts"], record["true_confirmed"], record["outcome_arrest"], record["engagements"]) == (
        2, 2, 2, 2,
    )  # fmt: skip
    assert record["faces_seen"] == 1000 and record["duration"] == "1h 00m"
    assert record["window_duration"] == "10h 00m" and record["status"] == "Revoked"
    assert record["windows"][-1] == (first_start + datetime.timedelta(days=1), deployment.revoked_at)
    assert len(record["windows"]) == 2

    rows = list(csv.reader(io.StringIO(_public_pages(deployment.reference)[2])))
    assert [row[0] for row in rows[1:]] == [deployment.reference] and rows[1][-1] == "Revoked"
    assert Client().get(f"/transparency/{deployment.reference}/").status_code == 200
    assert [r["status"] for r in Client().get("/api/v1/transparency/").json()] == ["Revoked"]

    names = {u.username for u in users.values()} | {u.get_full_name() for u in users.values()}
    for page in _public_pages(deployment.reference):
        assert deployment.reference in page and "Revoked" in page
        assert REVOCATION_REASON not in page and "DI Example" not in page  # why it was revoked stays internal
        assert "Two arrests before revocation." not in page  # so does the review
        for name in filter(None, names):
            assert name not in page, name


def test_the_ao_is_offered_the_review_of_a_revoked_deployment_that_ran_and_only_that(users, client_for):
    ran, never_ran = _revoked(users, ran=True), _revoked(users, ran=False)
    ao = client_for(users[Role.AUTHORISING_OFFICER])
    assert f"/deployments/{ran.pk}/review/" in ao.get(f"/deployments/{ran.pk}/").content.decode()
    assert f"/deployments/{never_ran.pk}/review/" not in ao.get(f"/deployments/{never_ran.pk}/").content.decode()
    assert ran.reference in ao.get("/").content.decode()  # the home panel lists it as awaiting review

    response = ao.post(
        f"/deployments/{ran.pk}/review/", {"objective_met": "no", "outcome_summary": "Stopped.", "complaint_count": 0}
    )

    assert response.status_code == 302
    page = ao.get(f"/deployments/{ran.pk}/").content.decode()
    assert f"/transparency/{ran.reference}/" in page and f"/deployments/{ran.pk}/review/" not in page


def test_a_deployment_revoked_before_it_ran_is_neither_reviewed_nor_published(users):
    ao = users[Role.AUTHORISING_OFFICER]
    deployment = _revoked(users, ran=False)
    assert not deployment_awaiting_review(user=ao).filter(pk=deployment.pk).exists()

    with pytest.raises(InvalidTransition) as refused:
        svc.deployment_review(actor=ao, deployment=deployment, objective_met="no", outcome_summary="Never ran.")

    assert refused.value.code == "cannot_review" and "nothing to review" in refused.value.message
    deployment = Deployment.objects.get(pk=deployment.pk)
    assert deployment.status == DeploymentStatus.REVOKED and deployment.reviewed_at is None
    assert not hasattr(deployment, "review")
    assert not deployment_published_list().exists()
    assert deployment.reference not in Client().get("/transparency/").content.decode()


def test_a_revoked_deployment_is_reviewed_once(users):
    ao = users[Role.AUTHORISING_OFFICER]
    deployment = _revoked(users, ran=True)
    _review(ao, deployment)

    with pytest.raises(InvalidTransition) as refused:
        svc.deployment_review(actor=ao, deployment=deployment, objective_met="yes", outcome_summary="Again.")

    assert refused.value.code == "already_reviewed"
    assert AuditEvent.objects.filter(action="deployment.reviewed", deployment_id=deployment.pk).count() == 1


def test_a_deployment_that_ran_publishes_the_time_matching_was_live_as_its_duration(published, providers):
    transparency.register_statistics_provider(lambda d: {"duration_seconds": 3600 + 15 * 60})
    Deployment.objects.filter(pk=published.pk).update(completed_at=published.windows.get().end)
    record = transparency.deployment_record(Deployment.objects.get(pk=published.pk))
    assert (record["duration"], record["duration_seconds"]) == ("1h 15m", 4500)
    assert (record["window_duration"], record["window_duration_seconds"]) == ("8h 00m", 8 * 3600)


# ----------------------------------------------------------------------------------------------------------------
# CSV injection (OWASP): free text reaches the public's spreadsheet as text


@pytest.mark.parametrize("text", ["=1+2", "+1", "-1", "@SUM(A1)", "\tcmd", "\rcmd", '=HYPERLINK("http://x")'])
def test_a_csv_cell_a_spreadsheet_would_evaluate_is_prefixed_with_a_quote(text):
    assert transparency_views.csv_cell(text) == f"'{text}"


@pytest.mark.parametrize("value", ["High Street", "0h 00m", "0%", 0.5, 42, "", None, "LFR-2025-0001"])
def test_other_csv_cells_are_left_as_they_are(value):
    assert transparency_views.csv_cell(value) == value


@pytest.mark.parametrize(
    "location", ['=HYPERLINK("http://evil.example","Click")', "+44 Market Square", "-Quay", "@Dock"]
)
def test_the_public_csv_neutralises_a_location_that_reads_as_a_formula(users, location):
    applicant, ao = users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER]
    deployment = h.authorised(applicant, ao, location_name=location)
    svc.deployment_close(actor=ao, deployment=deployment, reason="Done.")
    svc.deployment_review(actor=ao, deployment=deployment, objective_met="yes", outcome_summary="Fine.")

    body = Client().get("/transparency/deployment-records.csv").content.decode("utf-8-sig")

    row = list(csv.reader(io.StringIO(body)))[1]
    assert row[0] == deployment.reference and row[1] == f"'{location}"
    assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row)
