"""Watch-list API and pages: permissions per role, upload and progress, approval, schema."""
# ruff: noqa: F811  (fixtures are imported from watchlist_helpers by name)

from __future__ import annotations

import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from compliance.choices import Role
from compliance.models import WatchlistEntry
from compliance.models.watchlists import WatchlistStatus
from compliance.services import watchlists as svc
from tests.compliance.watchlist_helpers import (  # noqa: F401  (fixtures)
    UNCALIBRATED,
    budget,
    cast,
    enrol,
    make_zip,
    media,
    metadata,
    photo,
)

pytestmark = pytest.mark.django_db


def upload_payload(files):
    data = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in metadata().items()}
    data["files"] = [SimpleUploadedFile(name, content) for name, content in files]
    return data


def test_readers_see_watchlists_and_others_are_refused(cast, api_for, users):
    url = f"/api/v1/watchlists/{cast.deployment.pk}/"
    for role in (Role.WATCHLIST_COMPILER, Role.AUTHORISING_OFFICER, Role.DPO):
        assert api_for(users[role]).get(url).status_code == 200, role
    for role in (Role.APPLICANT, Role.LFR_OPERATOR, Role.ENGAGEMENT_OFFICER, Role.ADMINISTRATOR):
        response = api_for(users[role]).get(url)
        assert response.status_code == 403, role
        assert response.json()["error"]["code"]
    assert api_for(users[Role.ADMINISTRATOR]).get("/api/v1/reference-images/").status_code == 403


def test_compiler_uploads_a_zip_and_reads_the_per_file_report(cast, api_for, monkeypatch):
    monkeypatch.setattr(svc, "_dispatch", lambda batch_id: None)
    archive = make_zip({"PNC-1.jpg": photo("obama.jpg"), "bad.txt": b"nope"})
    response = api_for(cast.compiler).post(
        f"/api/v1/watchlists/{cast.deployment.pk}/uploads/", upload_payload([("a.zip", archive)]), format="multipart"
    )
    assert response.status_code == 202, response.json()
    batch_id = response.json()["id"]
    svc.enrolment_batch_process(batch_id=batch_id)

    report = api_for(cast.compiler).get(f"/api/v1/enrolment-batches/{batch_id}/").json()
    assert report["status"] == "done" and report["done"] == 2
    assert {(i["file_name"], i["status"], i["error_code"]) for i in report["items"]} == {
        ("PNC-1.jpg", "enrolled", ""),
        ("bad.txt", "error", "not_an_image"),
    }
    entries = api_for(cast.ao).get(f"/api/v1/watchlists/{cast.deployment.pk}/entries/").json()
    assert len(entries) == 1 and "encoding" not in entries[0]


def test_upload_refusals_use_the_error_shape(cast, api_for, monkeypatch):
    monkeypatch.setattr(svc, "_dispatch", lambda batch_id: None)
    not_a_zip = b"this is not a zip archive"  # refused as a whole (an unsafe member name is refused on its own)
    response = api_for(cast.compiler).post(
        f"/api/v1/watchlists/{cast.deployment.pk}/uploads/", upload_payload([("a.zip", not_a_zip)]), format="multipart"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "upload_refused"
    response = api_for(cast.ao).post(
        f"/api/v1/watchlists/{cast.deployment.pk}/uploads/",
        upload_payload([("a.jpg", photo("obama.jpg"))]),
        format="multipart",
    )
    assert response.status_code == 403


def test_approval_over_the_api_and_separation_of_duties(cast, api_for, budget):
    enrol(cast.compiler, cast.deployment, [("a.jpg", photo("obama.jpg"))])
    url = f"/api/v1/watchlists/{cast.deployment.pk}/approve/"

    assert api_for(cast.compiler).post(url, {}, format="json").status_code == 403
    budget["result"] = UNCALIBRATED
    refused = api_for(cast.approver).post(url, {}, format="json")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "acknowledgement_required"
    approved = api_for(cast.approver).post(url, {"acknowledgement": "Accepted: uncalibrated."}, format="json")
    assert approved.status_code == 200 and approved.json()["status"] == WatchlistStatus.APPROVED

    entry = WatchlistEntry.objects.get()
    changed = api_for(cast.compiler).patch(
        f"/api/v1/watchlist-entries/{entry.pk}/", {"offence_or_reason": "Burglary"}, format="json"
    )
    assert changed.status_code == 200
    assert api_for(cast.ao).get(f"/api/v1/watchlists/{cast.deployment.pk}/").json()["status"] == "draft"


def test_a_patch_sent_with_what_it_read_never_undoes_a_change_made_since(cast, api_for, budget, make_user):
    enrol(cast.compiler, cast.deployment, [("a.jpg", photo("obama.jpg"))])
    url = f"/api/v1/watchlist-entries/{WatchlistEntry.objects.get().pk}/"
    read = api_for(cast.compiler).get(url).json()
    colleague = make_user("watchlist_compiler", username="colleague")
    assert api_for(colleague).patch(url, {"offence_or_reason": "Robbery"}, format="json").status_code == 200

    stale = api_for(cast.compiler).patch(
        url, {"offence_or_reason": "Burglary", "if_unchanged_since": read["updated_at"]}, format="json"
    )
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "entry_changed"
    assert WatchlistEntry.objects.get().offence_or_reason == "Robbery"  # the colleague's change stands

    fresh = api_for(cast.compiler).get(url).json()
    changed = api_for(cast.compiler).patch(
        url, {"offence_or_reason": "Burglary", "if_unchanged_since": fresh["updated_at"]}, format="json"
    )
    assert changed.status_code == 200 and changed.json()["offence_or_reason"] == "Burglary"
    assert changed.json()["updated_at"] != fresh["updated_at"]


@pytest.mark.parametrize("instant", ["2024-10-27T00:30:00+00:00", "2024-10-27T01:30:00+00:00"])
def test_the_updated_at_a_client_read_in_the_hour_the_clocks_go_back_still_matches(cast, api_for, budget, instant):
    # 01:30 happens twice in London that night (BST, then GMT): the echoed time must still be the same instant.
    enrol(cast.compiler, cast.deployment, [("a.jpg", photo("obama.jpg"))])
    WatchlistEntry.objects.update(updated_at=datetime.datetime.fromisoformat(instant))
    url = f"/api/v1/watchlist-entries/{WatchlistEntry.objects.get().pk}/"
    read = api_for(cast.compiler).get(url).json()
    assert read["updated_at"].startswith("2024-10-27T01:30:00")
    changed = api_for(cast.compiler).patch(
        url, {"offence_or_reason": "Burglary", "if_unchanged_since": read["updated_at"]}, format="json"
    )
    assert changed.status_code == 200, changed.json()


def test_watchlist_endpoints_are_in_the_openapi_schema(api_for, users):
    schema = api_for(users[Role.DPO]).get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    text = schema.content.decode()
    for path in ("/api/v1/watchlists/{id}/uploads/", "/api/v1/watchlists/{id}/approve/", "/api/v1/enrolment-batches/"):
        assert path in text


def test_pages_for_compiler_and_approver(cast, client_for, budget, monkeypatch):
    monkeypatch.setattr(svc, "_dispatch", lambda batch_id: None)
    compiler = client_for(cast.compiler)
    assert "Watch-lists to compile" in compiler.get(reverse("home")).content.decode()
    page = compiler.get(reverse("watchlist_detail", args=[cast.deployment.pk]))
    assert page.status_code == 200 and "Upload for enrolment" in page.content.decode()

    form = upload_payload([("PNC-1.jpg", photo("obama.jpg"))])
    form["form"] = "upload"
    response = compiler.post(reverse("watchlist_detail", args=[cast.deployment.pk]), form)
    assert response.status_code == 302
    batch_url = response["Location"]
    running = compiler.get(batch_url).content.decode()
    assert "data-poll-url" in running and "<progress" in running
    batch_id = int(batch_url.rstrip("/").split("/")[-1])
    svc.enrolment_batch_process(batch_id=batch_id)
    partial = compiler.get(reverse("watchlist_batch_progress", args=[batch_id])).content.decode()
    assert "batch-report" in partial and "PNC-1.jpg" in partial

    approver = client_for(cast.approver)
    assert "Watch-lists awaiting approval" in approver.get(reverse("home")).content.decode()
    detail = approver.get(reverse("watchlist_detail", args=[cast.deployment.pk])).content.decode()
    assert "false alerts per 10,000 faces" in detail and "Approve watch-list" in detail
    approved = approver.post(reverse("watchlist_detail", args=[cast.deployment.pk]), {"form": "approve"})
    assert approved.status_code == 302
    assert client_for(cast.applicant).get(reverse("watchlist_detail", args=[cast.deployment.pk])).status_code == 403


def test_an_image_no_longer_lawfully_held_leaves_the_library_on_the_record(
    cast, api_for, users, django_capture_on_commit_callbacks
):
    """The library kept every uploaded image for ever: nothing could delete one whose legal basis had lapsed."""
    from compliance import biometric_store
    from compliance.models import AuditEvent, ReferenceImage

    batch = enrol(cast.compiler, cast.deployment, [("PNC-9.jpg", photo("obama.jpg"))])
    image = batch.items.get().reference_image
    stored = biometric_store.absolute(image.image_path)
    assert stored.exists()
    url = f"/api/v1/reference-images/{image.pk}/remove/"

    in_use = api_for(cast.compiler).post(url, {"reason": "Custody image: no further action."}, format="json")
    assert in_use.status_code == 400 and in_use.json()["error"]["code"] == "library_image_in_use"
    assert cast.deployment.reference in in_use.json()["error"]["message"]
    svc.watchlist_destroy(deployment=cast.deployment, reason="Test: the deployment ended.")
    assert api_for(users[Role.APPLICANT]).post(url, {"reason": "x"}, format="json").status_code == 403
    assert api_for(cast.dpo).post(url, {"reason": " "}, format="json").status_code == 400

    with django_capture_on_commit_callbacks(execute=True):
        removed = api_for(cast.dpo).post(url, {"reason": "Custody image: no further action."}, format="json")

    assert removed.status_code == 204
    assert not ReferenceImage.objects.filter(pk=image.pk).exists() and not stored.exists()
    event = AuditEvent.objects.get(action="reference_image.removed")
    assert event.after == {"sha256": image.image_sha256, "reason": "Custody image: no further action."}
    assert image.person_reference not in str(event.after)
    assert AuditEvent.objects.get(action="reference_image.removal_verified").after == {"file_gone": True}
