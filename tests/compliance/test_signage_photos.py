"""Signage photos (domain.md 2.4, 6): encrypted at rest, viewed only by the team, AOs and the DPO with an audit event,
and destroyed with the deployment's watch-list."""
# ruff: noqa: F811  (fixtures are imported from watchlist_helpers by name)

from __future__ import annotations

import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from freezegun import freeze_time

from compliance import biometric_store
from compliance.choices import Role
from compliance.models import AuditEvent, SignageRecord
from compliance.selectors import watchlists as wl_selectors
from compliance.services import deployments as deployment_services
from compliance.services import watchlists as watchlist_services
from lfr_portal.errors import RuleViolation
from tests.compliance.watchlist_helpers import budget, cast, enrol, gif_image, media, photo  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db

SIGN = "obama.jpg"  # any real JPEG with a face stands in for a street scene with passers-by


def _add(cast, data: bytes | None = None, name: str = "sign.jpg") -> SignageRecord:
    return deployment_services.signage_record_add(
        actor=cast.applicant,
        deployment=cast.deployment,
        position_description="A1 sign at the north exit",
        sign_count=1,
        placed_at=timezone.now() - datetime.timedelta(minutes=5),
        photo=SimpleUploadedFile(name, photo(SIGN) if data is None else data, content_type="image/jpeg"),
    )


def _url(record: SignageRecord) -> str:
    return reverse("signage_photo", args=[record.deployment_id, record.pk])


def _files(media_root) -> list:
    return [p for p in media_root.rglob("*") if p.is_file()]


def test_a_photo_uploaded_with_the_form_is_stored_encrypted_not_as_the_image(cast, media, client_for):
    response = client_for(cast.applicant).post(
        reverse("signage_add", args=[cast.deployment.pk]),
        {
            "position_description": "Two A1 signs at the station exit",
            "sign_count": 2,
            "placed_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
            "photo": SimpleUploadedFile("sign.jpg", photo(SIGN), content_type="image/jpeg"),
        },
    )
    assert response.status_code == 302, response.content

    record = SignageRecord.objects.get()
    assert record.photo_path.startswith(f"signage/{cast.deployment.pk}/") and record.photo_content_type == "image/jpeg"
    raw = biometric_store.absolute(record.photo_path).read_bytes()
    assert raw != photo(SIGN) and not raw.startswith(b"\xff\xd8\xff") and photo(SIGN)[:64] not in raw
    assert biometric_store.read_decrypted(record.photo_path) == photo(SIGN)
    # Nothing under MEDIA_ROOT holds the image in the clear.
    assert all(p.read_bytes() != photo(SIGN) for p in _files(media))
    event = AuditEvent.objects.get(action="deployment.signage_recorded")
    assert event.after["photo"] is True and event.after["photo_sha256"] == record.photo_sha256
    page = client_for(cast.applicant).get(reverse("deployment_detail", args=[cast.deployment.pk]))
    assert reverse("signage_photo", args=[cast.deployment.pk, record.pk]) in page.content.decode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (gif_image(), "JPEG or PNG"),
        (b"not an image at all", "JPEG or PNG"),
        (b"\xff\xd8\xff" + b"\x00" * 200, "cannot be read"),
    ],
)
def test_photos_that_are_not_jpeg_or_png_are_refused(cast, media, data, message):
    with pytest.raises(RuleViolation) as refused:
        _add(cast, data)
    assert message in refused.value.details["photo"][0]
    assert not SignageRecord.objects.exists() and not _files(media)


def test_an_oversized_photo_is_refused(cast, media, settings):
    settings.LFR_MAX_IMAGE_BYTES = 1024
    with pytest.raises(RuleViolation) as refused:
        _add(cast)
    assert "larger than" in refused.value.details["photo"][0]
    assert not _files(media)


@pytest.mark.parametrize("who", ["applicant", "ao", "dpo", "operator"])
def test_the_team_aos_and_the_dpo_view_the_photo_and_each_viewing_is_audited(cast, media, client_for, make_user, who):
    operator = make_user(Role.LFR_OPERATOR)
    deployment_services.deployment_set_assigned_officers(
        actor=cast.applicant, deployment=cast.deployment, officer_ids=[operator.pk]
    )
    record = _add(cast)
    viewer = {"applicant": cast.applicant, "ao": cast.approver, "dpo": cast.dpo, "operator": operator}[who]

    response = client_for(viewer).get(_url(record))

    assert response.status_code == 200
    assert response.content == photo(SIGN) and response["Content-Type"] == "image/jpeg"
    assert "no-store" in response["Cache-Control"]
    event = AuditEvent.objects.get(action="signage.photo_viewed")
    assert event.deployment_id == cast.deployment.pk and event.actor_username == viewer.username
    assert event.target_id == str(record.pk) and event.after == {"photo_sha256": record.photo_sha256}


def test_other_roles_are_refused_and_nothing_is_audited(cast, media, client_for, make_user, client):
    record = _add(cast)
    # The compiler can see the deployment but not its signage photos; the others cannot see the deployment at all.
    assert client_for(cast.compiler).get(_url(record)).status_code == 403
    assert client_for(make_user(Role.LFR_OPERATOR)).get(_url(record)).status_code == 404  # not assigned
    assert client_for(make_user(Role.ADMINISTRATOR)).get(_url(record)).status_code == 404
    assert client_for(make_user(Role.APPLICANT)).get(_url(record)).status_code == 404  # someone else's application
    assert client.get(_url(record)).status_code == 302  # to the sign-in page
    assert not AuditEvent.objects.filter(action="signage.photo_viewed").exists()


def test_revocation_destroys_the_photo_with_the_watchlist(
    cast, media, budget, client_for, django_capture_on_commit_callbacks
):
    enrol(cast.compiler, cast.deployment, [("PNC-1.jpg", photo("obama.jpg"))])
    record = _add(cast)
    assert (media / "signage" / str(cast.deployment.pk)).exists()

    with django_capture_on_commit_callbacks(execute=True):
        deployment_services.deployment_revoke(actor=cast.ao, deployment=cast.deployment, reason="Withdrawn.")

    record.refresh_from_db()
    assert record.photo_path == "" and not (media / "signage" / str(cast.deployment.pk)).exists()
    event = AuditEvent.objects.get(action="signage.photos_destroyed")
    assert event.deployment_id == cast.deployment.pk and event.after["photos"] == 1
    assert event.after["photo_sha256"] == [record.photo_sha256]
    evidence = wl_selectors.destruction_evidence(cast.deployment.pk)
    assert evidence["clean"] and evidence["signage_photo_rows"] == 0 and evidence["signage_photo_files"] == 0
    assert client_for(cast.dpo).get(_url(record)).status_code == 404
    with pytest.raises(RuleViolation):  # nothing would ever delete a photo added now
        _add(cast)


def test_cancellation_destroys_photos_of_a_deployment_without_a_watchlist(
    cast, media, django_capture_on_commit_callbacks
):
    _add(cast)
    with django_capture_on_commit_callbacks(execute=True):
        deployment_services.deployment_cancel(actor=cast.ao, deployment=cast.deployment, reason="Called off.")
    assert not SignageRecord.objects.exclude(photo_path="").exists() and not _files(media)


def test_the_beat_destroys_photos_of_a_completed_deployment_without_a_watchlist_after_the_delay(
    cast, media, django_capture_on_commit_callbacks
):
    record = _add(cast)
    deployment_services.deployment_close(actor=cast.ao, deployment=cast.deployment, reason="Done early.")
    cast.deployment.refresh_from_db()

    with django_capture_on_commit_callbacks(execute=True):
        watchlist_services.watchlists_destroy_due()
    assert SignageRecord.objects.get(pk=record.pk).photo_path  # not yet: the destruction delay

    later = cast.deployment.completed_at + datetime.timedelta(hours=24, minutes=1)
    with freeze_time(later), django_capture_on_commit_callbacks(execute=True):
        watchlist_services.watchlists_destroy_due()
    assert SignageRecord.objects.get(pk=record.pk).photo_path == "" and not _files(media)
