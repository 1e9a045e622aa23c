"""Uploads: kept in memory only, refused with the limit named when too large or too many, and empty files given
their own verdict (lfr_portal/uploads.py, the watch-list pages and API, the signage form)."""
# ruff: noqa: F811  (fixtures are imported from watchlist_helpers by name)

from __future__ import annotations

import pytest
from django.core.files import uploadedfile
from django.urls import reverse

from compliance.models import EnrolmentBatch
from compliance.models.watchlists import BatchStatus, ItemStatus
from compliance.services import deployments as deployment_services
from compliance.services import watchlists as svc
from tests.compliance.test_watchlists_api import upload_payload
from tests.compliance.watchlist_helpers import cast, enrol, media, photo, upload  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db


def _upload_url(cast):
    return f"/api/v1/watchlists/{cast.deployment.pk}/uploads/"


@pytest.fixture
def no_dispatch(monkeypatch):
    monkeypatch.setattr(svc, "_dispatch", lambda batch_id: None)


@pytest.fixture
def no_temporary_files(monkeypatch, settings):
    """Django spools an upload over FILE_UPLOAD_MAX_MEMORY_SIZE to a temporary file: make that impossible."""
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 100

    def refuse(*args, **kwargs):
        raise AssertionError("an upload was written to a temporary file")

    monkeypatch.setattr(uploadedfile.tempfile, "NamedTemporaryFile", refuse)


def test_an_upload_larger_than_djangos_memory_threshold_never_touches_a_temporary_file(
    cast, api_for, no_dispatch, no_temporary_files
):
    response = api_for(cast.compiler).post(
        _upload_url(cast), upload_payload([("a.jpg", photo("obama.jpg"))]), format="multipart"
    )

    assert response.status_code == 202, response.json()
    batch = svc.enrolment_batch_process(batch_id=response.json()["id"])
    assert batch.items.get().status == ItemStatus.ENROLLED


def test_an_upload_over_the_size_limit_is_refused_naming_the_file_and_nothing_is_stored(
    cast, api_for, settings, no_dispatch
):
    big = photo("obama.jpg")
    settings.LFR_MAX_UPLOAD_BYTES = len(big) + 10  # the first file fits; the two together do not

    response = api_for(cast.compiler).post(
        _upload_url(cast), upload_payload([("a.jpg", big), ("b.jpg", big)]), format="multipart"
    )

    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "upload_too_large" and error["details"] == {"files": ["b.jpg"]}
    assert "b.jpg" in error["message"] and f"{len(big) + 10:,}" in error["message"]
    assert not EnrolmentBatch.objects.exists()

    settings.LFR_MAX_UPLOAD_BYTES = len(big) - 1  # one byte over: the handler keeps it all, and still refuses it
    response = api_for(cast.compiler).post(_upload_url(cast), upload_payload([("a.jpg", big)]), format="multipart")
    assert response.status_code == 413 and response.json()["error"]["details"] == {"files": ["a.jpg"]}


def test_more_files_than_allowed_is_refused_with_the_limit_on_the_api_and_the_page(
    cast, api_for, client_for, settings, no_dispatch
):
    settings.LFR_MAX_UPLOAD_FILES = settings.DATA_UPLOAD_MAX_NUMBER_FILES = 3
    files = [(f"p{i}.jpg", b"\xff\xd8\xff") for i in range(4)]

    response = api_for(cast.compiler).post(_upload_url(cast), upload_payload(files), format="multipart")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "too_many_files" and "At most 3 files can be uploaded at once" in error["message"]
    form = upload_payload(files)
    form["form"] = "upload"
    page = client_for(cast.compiler).post(reverse("watchlist_detail", args=[cast.deployment.pk]), form)
    assert page.status_code == 400
    assert "At most 3 files can be uploaded at once" in page.content.decode()
    assert not EnrolmentBatch.objects.exists()


def test_an_empty_file_gets_its_own_verdict_and_the_others_are_enrolled(cast, api_for, client_for, no_dispatch):
    response = api_for(cast.compiler).post(
        _upload_url(cast), upload_payload([("a.jpg", photo("obama.jpg")), ("empty.jpg", b"")]), format="multipart"
    )
    assert response.status_code == 202, response.json()
    batch = svc.enrolment_batch_process(batch_id=response.json()["id"])

    assert batch.status == BatchStatus.DONE
    verdicts = {item.file_name: (item.status, item.error_code) for item in batch.items.all()}
    assert verdicts["a.jpg"] == (ItemStatus.ENROLLED, "")
    assert verdicts["empty.jpg"][0] == ItemStatus.ERROR and verdicts["empty.jpg"][1]

    form = upload_payload([("c.png", photo("alex-lacamoire.png")), ("empty.png", b"")])
    form["form"] = "upload"
    page = client_for(cast.compiler).post(reverse("watchlist_detail", args=[cast.deployment.pk]), form)
    assert page.status_code == 302


def test_an_upload_refused_because_the_deployment_ended_is_shown_not_swallowed(cast, client_for, no_dispatch):
    """The compiler had the page open; meanwhile the deployment was revoked, so the page no longer shows the
    upload form that would have carried the message: the refusal page names the rule, with its status."""
    deployment_services.deployment_revoke(actor=cast.ao, deployment=cast.deployment, reason="Intelligence withdrawn.")
    form = upload_payload([("a.jpg", photo("obama.jpg"))])
    form["form"] = "upload"

    page = client_for(cast.compiler).post(reverse("watchlist_detail", args=[cast.deployment.pk]), form)

    assert page.status_code == 409
    assert "That action was refused" in page.content.decode()
    assert not EnrolmentBatch.objects.exists()


def test_an_approval_refused_while_the_form_is_still_shown_keeps_what_was_typed(cast, client_for, no_dispatch):
    """Enrolment still running: the approver's form is still on the page, so the refusal is shown there, with the
    acknowledgement they typed kept."""
    enrol(cast.compiler, cast.deployment, [("a.jpg", photo("obama.jpg"))])
    upload(cast.compiler, cast.deployment, [("b.png", photo("alex-lacamoire.png"))])  # still pending

    page = client_for(cast.approver).post(
        reverse("watchlist_detail", args=[cast.deployment.pk]),
        {"form": "approve", "acknowledgement": "I accept the uncalibrated matcher for this deployment."},
    )

    assert page.status_code == 200
    html = page.content.decode()
    assert "Enrolment is still running" in html
    assert "I accept the uncalibrated matcher for this deployment." in html
