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
from compliance.choices import Role
from compliance.models import Deployment
from compliance.services import deployments as svc
from tests.compliance import deployment_helpers as h

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


def test_columns_are_the_met_format():
    assert [str(label) for _key, label in transparency.COLUMNS] == MET_HEADINGS


def test_figures_are_zero_without_providers(published, providers):
    transparency._statistics.clear()
    transparency._watchlist_size.clear()
    record = transparency.deployment_record(published)
    for key in ("total_alerts", "true_confirmed", "false_unconfirmed", "outcome_arrest", "faces_seen", "engagements"):
        assert record[key] == 0
    assert record["watchlist_size"] == 0
    assert record["min_threshold"] == 0.5
    # Without session figures, the duration is the authorised window time up to completion.
    window = published.windows.get()
    Deployment.objects.filter(pk=published.pk).update(completed_at=window.end + datetime.timedelta(hours=1))
    assert transparency.deployment_record(Deployment.objects.get(pk=published.pk))["duration"] == "8h 00m"
    Deployment.objects.filter(pk=published.pk).update(completed_at=window.start + datetime.timedelta(hours=2))
    assert transparency.deployment_record(Deployment.objects.get(pk=published.pk))["duration"] == "2h 00m"


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
    response = Client().get("/transparency/deployment-records.csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["Reference", *MET_HEADINGS]
    assert len(rows) == 2 and rows[1][0] == published.reference and rows[1][1] == "High Street, Newtown"


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
    assert record["duration"] == "2h 00m"
    assert record["windows"] == [(first_start, deployment.completed_at)]
