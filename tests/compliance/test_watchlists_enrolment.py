"""Enrolment (domain.md 3): one verdict per image, real photos, every bad input, zips, rules and encryption."""
# ruff: noqa: F811  (fixtures are imported from watchlist_helpers by name)

from __future__ import annotations

import datetime
import hashlib
import io
import stat
import zipfile

import numpy as np
import pytest
from django.db import connection
from django.utils import timezone

from compliance import biometric_store
from compliance.choices import Role, WatchlistCategory
from compliance.models import AuditEvent, EnrolmentItem, ReferenceImage, WatchlistEntry
from compliance.models.watchlists import BatchStatus, ItemStatus
from compliance.services import watchlists as svc
from lfr_portal.errors import InvalidTransition, NotPermitted, RuleViolation
from matching.engine import encoding_to_bytes
from tests.compliance import deployment_helpers
from tests.compliance.watchlist_helpers import (  # noqa: F401  (fixtures)
    blank_image,
    budget,
    cast,
    enrol,
    gif_image,
    huge_declared_png,
    make_zip,
    media,
    photo,
    small_face_jpeg,
    truncated_jpeg,
    upload,
)

pytestmark = pytest.mark.django_db


def verdicts(batch) -> dict[str, tuple[str, str]]:
    return {item.file_name: (item.status, item.error_code) for item in batch.items.order_by("position")}


def test_single_photo_with_one_face_is_enrolled_with_provenance(cast):
    batch = enrol(cast.compiler, cast.deployment, [("PNC-0001.png", photo("lin-manuel-miranda.png"))])

    assert batch.status == BatchStatus.DONE
    item = batch.items.get()
    assert (item.status, item.error_code) == (ItemStatus.ENROLLED, "")
    entry = item.entry
    assert entry.category == WatchlistCategory.WANTED_BY_COURTS
    assert entry.compiler == cast.compiler
    assert entry.reference_image.person_reference == "PNC-0001"
    assert entry.reference_image.legal_basis.startswith("Custody image")
    assert entry.box_right - entry.box_left > 40
    assert AuditEvent.objects.filter(action="watchlist.entry_enrolled", target_id=str(entry.pk)).exists()
    assert item.upload_path == ""  # the pending upload is gone once processed


def test_real_photos_get_their_specific_verdicts(cast):
    batch = enrol(
        cast.compiler,
        cast.deployment,
        [("obama.jpg", photo("obama.jpg")), ("two.jpg", photo("two_people.jpg")), ("blank.png", blank_image())],
    )

    assert verdicts(batch) == {
        "obama.jpg": (ItemStatus.ENROLLED, ""),
        "two.jpg": (ItemStatus.ERROR, "multiple_faces"),
        "blank.png": (ItemStatus.ERROR, "no_face"),
    }
    assert all(item.message for item in batch.items.filter(status=ItemStatus.ERROR))


def test_every_bad_input_gets_exactly_one_specific_error(cast, settings):
    settings.LFR_MIN_FACE_PX = 100
    settings.LFR_MAX_IMAGE_PIXELS = 40_000_000
    files = [
        ("notes.txt", b"this is not an image at all"),
        ("truncated.jpg", truncated_jpeg()),
        ("animation.gif", gif_image()),
        ("bomb.png", huge_declared_png()),
        ("tiny-face.jpg", small_face_jpeg()),
    ]
    batch = enrol(cast.compiler, cast.deployment, files)

    assert verdicts(batch) == {
        "notes.txt": (ItemStatus.ERROR, "not_an_image"),
        "truncated.jpg": (ItemStatus.ERROR, "corrupt"),
        "animation.gif": (ItemStatus.ERROR, "unsupported_format"),
        "bomb.png": (ItemStatus.ERROR, "too_many_pixels"),
        "tiny-face.jpg": (ItemStatus.ERROR, "face_too_small"),
    }
    assert EnrolmentItem.objects.filter(batch=batch).count() == len(files)
    assert not WatchlistEntry.objects.exists()
    assert biometric_store.files_in(biometric_store.watchlist_folder(cast.deployment.pk)) == []


def test_zip_with_bad_files_enrols_the_good_ones_and_names_each_bad_one(cast):
    archive = make_zip(
        {
            "people/PNC-1.jpg": photo("obama.jpg"),
            "people/PNC-2.png": photo("alex-lacamoire.png"),
            "people/group.jpg": photo("two_people.jpg"),
            "people/readme.txt": b"hello",
            "people/": b"",
        }
    )
    batch = enrol(cast.compiler, cast.deployment, [("upload.zip", archive)])

    assert batch.status == BatchStatus.DONE
    assert verdicts(batch) == {
        "people/PNC-1.jpg": (ItemStatus.ENROLLED, ""),
        "people/PNC-2.png": (ItemStatus.ENROLLED, ""),
        "people/group.jpg": (ItemStatus.ERROR, "multiple_faces"),
        "people/readme.txt": (ItemStatus.ERROR, "not_an_image"),
    }
    assert sorted(ReferenceImage.objects.values_list("person_reference", flat=True)) == ["PNC-1", "PNC-2"]
    assert batch.source_path == ""
    event = AuditEvent.objects.get(action="watchlist.batch_processed")
    assert event.after["enrolled"] == 2 and event.after["error_codes"] == {"multiple_faces": 1, "not_an_image": 1}


@pytest.mark.parametrize("name", ["../evil.jpg", "/etc/evil.jpg", "ok/../../evil.jpg", "C:\\evil.jpg"])
def test_a_member_with_an_unsafe_path_gets_its_own_verdict_and_the_rest_enrols(cast, media, name):
    """One member named to escape its folder refused the whole archive, losing the good photos beside it, though
    no member is ever written under its own name. It is now named, never extracted, and the others enrol."""
    archive = make_zip({"good.jpg": photo("obama.jpg"), name: photo("obama.jpg")})

    batch = enrol(cast.compiler, cast.deployment, [("upload.zip", archive)])

    assert batch.status == BatchStatus.DONE
    assert verdicts(batch) == {"good.jpg": (ItemStatus.ENROLLED, ""), name: (ItemStatus.ERROR, "unsafe_name")}
    message = batch.items.get(error_code="unsafe_name").message
    assert repr(name) in message and "unsafe path" in message and "not extracted" in message
    assert WatchlistEntry.objects.count() == 1
    assert not AuditEvent.objects.filter(action="watchlist.zip_refused").exists()
    assert AuditEvent.objects.get(action="watchlist.batch_processed").after["error_codes"] == {"unsafe_name": 1}
    assert not any("evil" in str(path) for path in media.parent.rglob("*"))


def test_a_link_inside_an_archive_gets_its_own_verdict_and_the_rest_enrols(cast):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("PNC-1.jpg", photo("obama.jpg"))
        link = zipfile.ZipInfo("passwd.jpg")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")

    batch = enrol(cast.compiler, cast.deployment, [("upload.zip", buffer.getvalue())])

    assert verdicts(batch) == {"PNC-1.jpg": (ItemStatus.ENROLLED, ""), "passwd.jpg": (ItemStatus.ERROR, "link")}
    message = batch.items.get(file_name="passwd.jpg").message
    assert "'passwd.jpg'" in message and "is a link" in message and "not extracted" in message


def test_a_zip_bomb_inside_an_archive_gets_its_own_verdict_and_the_rest_enrols(cast):
    """A zip with one bad file keeps what was valid: a member compressed like a bomb refused the whole archive,
    losing the good photos beside it. It is now named, never inflated, and the others enrol."""
    archive = make_zip({"PNC-1.jpg": photo("obama.jpg"), "bomb.png": b"\0" * 5_000_000})

    batch = enrol(cast.compiler, cast.deployment, [("upload.zip", archive)])

    assert verdicts(batch) == {"PNC-1.jpg": (ItemStatus.ENROLLED, ""), "bomb.png": (ItemStatus.ERROR, "zip_bomb")}
    message = batch.items.get(file_name="bomb.png").message
    assert "zip bomb" in message and "not extracted" in message


def test_a_bomb_declaring_more_than_the_archive_limit_does_not_refuse_the_good_files(cast, settings):
    """A real bomb declares more than the whole archive may expand to: counting it refused the archive, losing the
    photos beside it. It is never inflated, so only what will be read counts."""
    settings.LFR_MAX_ZIP_UNCOMPRESSED_BYTES = 2_000_000
    archive = make_zip({"PNC-1.jpg": photo("obama.jpg"), "bomb.png": b"\0" * 5_000_000})

    batch = enrol(cast.compiler, cast.deployment, [("upload.zip", archive)])

    assert verdicts(batch) == {"PNC-1.jpg": (ItemStatus.ENROLLED, ""), "bomb.png": (ItemStatus.ERROR, "zip_bomb")}


def test_zip_with_too_many_files_or_too_many_bytes_is_refused(cast, settings):
    settings.LFR_MAX_ZIP_FILES = 3
    with pytest.raises(RuleViolation, match="cannot be accepted"):
        upload(cast.compiler, cast.deployment, [("many.zip", make_zip({f"{i}.jpg": b"x" for i in range(4)}))])

    settings.LFR_MAX_ZIP_FILES = 1000
    settings.LFR_MAX_ZIP_UNCOMPRESSED_BYTES = 100_000
    stored = make_zip({"a.jpg": photo("obama.jpg")}, compression=zipfile.ZIP_STORED)
    with pytest.raises(RuleViolation) as refused:
        upload(cast.compiler, cast.deployment, [("big.zip", stored)])
    assert "expands to" in str(refused.value.details["files"])


def test_zip_member_lying_about_its_size_is_capped_on_the_worker(cast, settings):
    """A forged central directory declares a small size; the bytes actually inflated are capped too."""
    payload = b"\0" * 200_000
    archive = bytearray(make_zip({"liar.jpg": payload}))
    # Patch the declared uncompressed size (local header offset 22, central directory offset 24) to 1000 bytes.
    local = archive.find(b"PK\x03\x04")
    central = archive.find(b"PK\x01\x02")
    archive[local + 22 : local + 26] = (1000).to_bytes(4, "little")
    archive[central + 24 : central + 28] = (1000).to_bytes(4, "little")
    batch = upload(cast.compiler, cast.deployment, [("liar.zip", bytes(archive))])

    processed = svc.enrolment_batch_process(batch_id=batch.pk)

    # Either zipfile notices the size mismatch (a corrupt member) or our cap refuses the archive; nothing enrols.
    assert processed.status in (BatchStatus.REFUSED, BatchStatus.DONE)
    if processed.status == BatchStatus.DONE:
        assert verdicts(processed) == {"liar.jpg": (ItemStatus.ERROR, "corrupt")}
    assert not WatchlistEntry.objects.exists()
    assert biometric_store.files_in(biometric_store.watchlist_folder(cast.deployment.pk)) == []


def test_upload_dispatches_the_batch_task_after_commit(cast, monkeypatch, django_capture_on_commit_callbacks):
    from compliance import tasks

    sent: list[int] = []
    monkeypatch.setattr(tasks.process_enrolment_batch, "delay", lambda batch_id: sent.append(batch_id))

    with django_capture_on_commit_callbacks(execute=True):
        batch = upload(cast.compiler, cast.deployment, [("a.jpg", photo("obama.jpg"))])

    assert sent == [batch.pk]
    # The task body is a thin wrapper around the service: running it processes the batch.
    tasks.process_enrolment_batch.run(batch.pk)
    batch.refresh_from_db()
    assert batch.status == BatchStatus.DONE


def test_only_a_compiler_may_enrol(cast):
    for user in (cast.ao, cast.applicant, cast.dpo):
        with pytest.raises(NotPermitted):
            upload(user, cast.deployment, [("a.jpg", photo("obama.jpg"))])


def test_category_not_authorised_is_refused(cast):
    with pytest.raises(RuleViolation) as refused:
        upload(cast.compiler, cast.deployment, [("a.jpg", photo("obama.jpg"))], category=WatchlistCategory.RISK_OF_HARM)
    assert "does not allow" in refused.value.details["category"][0]

    with pytest.raises(RuleViolation):
        upload(cast.compiler, cast.deployment, [("a.jpg", photo("obama.jpg"))], category="anyone_interesting")


def test_watchlist_larger_than_authorised_maximum_is_refused(make_user, media):
    applicant, ao = make_user(Role.APPLICANT), make_user(Role.AUTHORISING_OFFICER)
    compiler = make_user(Role.WATCHLIST_COMPILER)
    deployment = deployment_helpers.authorised(applicant, ao, watchlist_max_size=2)

    with pytest.raises(RuleViolation) as refused:
        upload(compiler, deployment, [(f"{i}.jpg", photo("obama.jpg")) for i in range(3)])
    assert "authorised maximum is 2" in refused.value.details["files"][0]

    enrol(compiler, deployment, [("a.jpg", photo("obama.jpg")), ("b.png", photo("lin-manuel-miranda.png"))])
    with pytest.raises(RuleViolation):
        upload(compiler, deployment, [("c.jpg", photo("biden.jpg"))])


def test_size_is_checked_again_on_the_worker(make_user, media):
    applicant, ao = make_user(Role.APPLICANT), make_user(Role.AUTHORISING_OFFICER)
    compiler = make_user(Role.WATCHLIST_COMPILER)
    deployment = deployment_helpers.authorised(applicant, ao, watchlist_max_size=1)
    first = upload(compiler, deployment, [("a.jpg", photo("obama.jpg"))])
    # A zip's size is counted from its listing; both were accepted while the list was empty of entries...
    svc.enrolment_batch_process(batch_id=first.pk)

    with pytest.raises(RuleViolation):
        upload(compiler, deployment, [("z.zip", make_zip({"b.png": photo("lin-manuel-miranda.png")}))])


def test_old_image_needs_a_recorded_justification(cast):
    old = timezone.localdate() - datetime.timedelta(days=366 * 6)
    with pytest.raises(RuleViolation) as refused:
        upload(cast.compiler, cast.deployment, [("a.jpg", photo("obama.jpg"))], captured_on=old)
    assert "older than 5 years" in refused.value.details["age_justification"][0]

    batch = enrol(
        cast.compiler,
        cast.deployment,
        [("a.jpg", photo("obama.jpg"))],
        captured_on=old,
        age_justification="Most recent custody image; confirmed likeness by the OIC in March.",
    )
    entry = batch.items.get().entry
    assert entry.age_justification.startswith("Most recent")


def test_compiling_refused_once_the_deployment_is_revoked(cast):
    from compliance.services import deployments

    deployments.deployment_revoke(actor=cast.ao, deployment=cast.deployment, reason="Intelligence withdrawn.")
    with pytest.raises(InvalidTransition):
        upload(cast.compiler, cast.deployment, [("a.jpg", photo("obama.jpg"))])


def test_encodings_and_images_are_encrypted_at_rest(cast):
    batch = enrol(cast.compiler, cast.deployment, [("a.jpg", photo("obama.jpg"))])
    entry = batch.items.get().entry

    with connection.cursor() as cursor:
        cursor.execute("SELECT encoding FROM compliance_watchlistentry WHERE id = %s", [entry.pk])
        raw = bytes(cursor.fetchone()[0])
    from compliance.crypto import decrypt_bytes

    plain = decrypt_bytes(raw)
    vector = np.frombuffer(plain, dtype="<f4")
    assert vector.shape == (128,)
    assert raw != plain and plain not in raw and encoding_to_bytes(vector) not in raw
    assert hashlib.sha256(plain).hexdigest() == entry.encoding_sha256

    original = photo("obama.jpg")
    for path in (entry.image_path, entry.reference_image.image_path):
        stored = biometric_store.absolute(path).read_bytes()
        assert original[:64] not in stored and stored != original
        assert biometric_store.read_decrypted(path) == original
    assert entry.image_path.startswith(f"watchlists/{cast.deployment.pk}/")


def test_audit_holds_hashes_never_images_or_encodings(cast):
    batch = enrol(cast.compiler, cast.deployment, [("a.jpg", photo("obama.jpg"))])
    entry = batch.items.get().entry
    text = " ".join(str(e.after) + str(e.before) for e in AuditEvent.objects.filter(action__startswith="watchlist."))
    assert entry.encoding_sha256 in text and entry.image_sha256 in text
    assert bytes(entry.encoding).decode()[:40] not in text


def test_library_image_can_join_another_watchlist_via_a_worker(cast, make_user):
    batch = enrol(cast.compiler, cast.deployment, [("a.jpg", photo("obama.jpg"))])
    image = batch.items.get().reference_image
    other = deployment_helpers.authorised(cast.applicant, cast.ao, title="Second operation")

    library_batch = svc.enrolment_batch_from_library(
        actor=cast.compiler,
        deployment=other,
        reference_image=image,
        category=WatchlistCategory.WANTED_ON_SUSPICION,
        offence_or_reason="Robbery on 3 March",
        justification="Named suspect; not yet arrested.",
    )
    svc.enrolment_batch_process(batch_id=library_batch.pk)

    entry = library_batch.items.get().entry
    assert entry.reference_image == image and entry.watchlist.deployment == other
    assert entry.image_path.startswith(f"watchlists/{other.pk}/")
    with pytest.raises(RuleViolation):
        svc.enrolment_batch_from_library(
            actor=cast.compiler,
            deployment=other,
            reference_image=image,
            category=WatchlistCategory.WANTED_ON_SUSPICION,
            offence_or_reason="x",
            justification="y",
        )


def test_processing_twice_gives_each_image_one_verdict(cast):
    batch = upload(cast.compiler, cast.deployment, [("a.jpg", photo("obama.jpg"))])
    svc.enrolment_batch_process(batch_id=batch.pk)
    svc.enrolment_batch_process(batch_id=batch.pk)  # a redelivered task
    for item in batch.items.all():
        svc.enrolment_item_process(item_id=item.pk)

    assert WatchlistEntry.objects.count() == 1
    assert AuditEvent.objects.filter(action="watchlist.entry_enrolled").count() == 1


def test_duplicate_image_in_one_watchlist_gets_a_duplicate_verdict(cast):
    batch = enrol(cast.compiler, cast.deployment, [("a.jpg", photo("obama.jpg")), ("b.jpg", photo("obama.jpg"))])
    assert verdicts(batch) == {"a.jpg": (ItemStatus.ENROLLED, ""), "b.jpg": (ItemStatus.ERROR, "duplicate")}


@pytest.mark.parametrize("method", [zipfile.ZIP_DEFLATED, zipfile.ZIP_LZMA, zipfile.ZIP_BZIP2])
def test_zip_member_with_a_damaged_compressed_stream_gets_its_own_verdict(cast, method):
    """A broken deflate or LZMA stream raises the decompressor's own error (zlib.error, LZMAError), not
    BadZipFile: the damaged member is named as corrupt and the good one is still enrolled."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        archive.writestr("bad.jpg", photo("obama.jpg"))
        archive.writestr("good.jpg", photo("alex-lacamoire.png"))
    data = bytearray(buffer.getvalue())
    start = data.find(b"bad.jpg") + len(b"bad.jpg") + 40  # inside bad.jpg's compressed data
    data[start : start + 40] = b"\xff" * 40

    batch = enrol(cast.compiler, cast.deployment, [("upload.zip", bytes(data))])

    assert batch.status == BatchStatus.DONE
    assert verdicts(batch) == {"bad.jpg": (ItemStatus.ERROR, "corrupt"), "good.jpg": (ItemStatus.ENROLLED, "")}
    assert EnrolmentItem.objects.get(file_name="bad.jpg").message == "The file is damaged inside the archive."


def test_one_image_failing_unexpectedly_gets_its_own_verdict_and_the_batch_finishes(cast, monkeypatch):
    """An error the engine does not expect (here a RuntimeError from the encoder for the first image only) gives
    that image an `internal_error` verdict; the other images are still enrolled and the batch is finished, so it
    no longer blocks approval."""
    real = svc.enrolment_encoding
    calls: list[int] = []

    def first_fails(data, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("encoder crashed")
        return real(data, **kwargs)

    monkeypatch.setattr(svc, "enrolment_encoding", first_fails)
    batch = enrol(
        cast.compiler, cast.deployment, [("a.jpg", photo("obama.jpg")), ("b.png", photo("alex-lacamoire.png"))]
    )

    assert batch.status == BatchStatus.DONE
    assert verdicts(batch) == {"a.jpg": (ItemStatus.ERROR, "internal_error"), "b.png": (ItemStatus.ENROLLED, "")}
    failed = EnrolmentItem.objects.get(file_name="a.jpg")
    assert failed.upload_path == "" and "upload it again" in failed.message
    assert biometric_store.files_in(biometric_store.watchlist_folder(cast.deployment.pk) + "/uploads") == []


def test_an_upload_that_no_longer_decrypts_is_named_as_unreadable(cast):
    batch = upload(
        cast.compiler, cast.deployment, [("a.jpg", photo("obama.jpg")), ("b.png", photo("alex-lacamoire.png"))]
    )
    item = batch.items.get(file_name="a.jpg")
    biometric_store.absolute(item.upload_path).write_bytes(b"not a Fernet token")

    processed = svc.enrolment_batch_process(batch_id=batch.pk)

    assert verdicts(processed) == {"a.jpg": (ItemStatus.ERROR, "corrupt"), "b.png": (ItemStatus.ENROLLED, "")}


def test_a_zip_that_no_longer_decrypts_refuses_the_batch(cast):
    batch = upload(cast.compiler, cast.deployment, [("a.zip", make_zip({"a.jpg": photo("obama.jpg")}))])
    biometric_store.absolute(batch.source_path).write_bytes(b"not a Fernet token")

    processed = svc.enrolment_batch_process(batch_id=batch.pk)

    assert processed.status == BatchStatus.REFUSED
    assert "could not be read back" in processed.message
    assert biometric_store.files_in(biometric_store.watchlist_folder(cast.deployment.pk)) == []


@pytest.mark.parametrize(
    ("field", "limit"), [("source_detail", 200), ("person_reference", 100), ("offence_or_reason", 300)]
)
def test_text_longer_than_its_column_is_refused_at_upload_and_names_the_field(cast, field, limit):
    """Before, the upload was accepted and the worker's INSERT failed on PostgreSQL, stranding the batch."""
    with pytest.raises(RuleViolation) as refused:
        upload(cast.compiler, cast.deployment, [("a.jpg", photo("obama.jpg"))], **{field: "x" * (limit + 1)})

    assert list(refused.value.details) == [field]
    assert str(limit) in refused.value.details[field][0]
    assert not EnrolmentItem.objects.exists()
    upload(cast.compiler, cast.deployment, [("a.jpg", photo("obama.jpg"))], **{field: "x" * limit})


def _ago(**kwargs):
    return timezone.now() - datetime.timedelta(**kwargs)


@pytest.fixture
def queued(monkeypatch):
    from compliance import tasks

    sent: list[int] = []
    monkeypatch.setattr(tasks.process_enrolment_batch, "delay", sent.append)
    return sent


def test_an_upload_made_while_the_broker_is_down_is_kept_and_queued_again_by_the_sweep(
    cast, monkeypatch, django_capture_on_commit_callbacks
):
    from compliance import tasks

    def broker_down(batch_id):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(tasks.process_enrolment_batch, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        batch = upload(cast.compiler, cast.deployment, [("a.jpg", photo("obama.jpg"))])  # no 500 for the user
    assert batch.status == BatchStatus.PENDING

    sent: list[int] = []
    monkeypatch.setattr(tasks.process_enrolment_batch, "delay", sent.append)
    assert svc.enrolment_batches_resume() == []  # still young: its message may be in the queue
    type(batch).objects.filter(pk=batch.pk).update(created_at=_ago(minutes=11))

    assert tasks.resume_stalled_enrolment.run() == [batch.pk] and sent == [batch.pk]
    tasks.process_enrolment_batch.run(batch.pk)
    assert verdicts(type(batch).objects.get(pk=batch.pk)) == {"a.jpg": (ItemStatus.ENROLLED, "")}


def test_a_batch_whose_worker_died_is_taken_over_and_finished(cast, queued):
    batch = upload(
        cast.compiler, cast.deployment, [("a.jpg", photo("obama.jpg")), ("b.png", photo("alex-lacamoire.png"))]
    )
    first = batch.items.get(file_name="a.jpg").pk
    svc._claim_batch(batch.pk)  # a run starts ...
    svc.enrolment_item_process(item_id=first)  # ... checks one image, and its worker is killed
    type(batch).objects.filter(pk=batch.pk).update(started_at=_ago(minutes=20))

    # A duplicate message while that run could still be alive does nothing: no two runs on one batch.
    assert svc.enrolment_batch_process(batch_id=batch.pk).status == BatchStatus.PROCESSING
    assert batch.items.get(file_name="b.png").status == ItemStatus.PENDING

    type(batch).objects.filter(pk=batch.pk).update(started_at=_ago(minutes=40))
    assert svc.enrolment_batches_resume() == [batch.pk] and queued == [batch.pk]
    done = svc.enrolment_batch_process(batch_id=batch.pk)

    assert done.status == BatchStatus.DONE and done.runs == 2
    assert verdicts(done) == {"a.jpg": (ItemStatus.ENROLLED, ""), "b.png": (ItemStatus.ENROLLED, "")}
    assert svc.enrolment_batches_resume() == []


def test_a_batch_that_keeps_killing_its_worker_is_finished_with_the_rest_named(cast, queued):
    batch = upload(cast.compiler, cast.deployment, [("a.jpg", photo("obama.jpg"))])
    type(batch).objects.filter(pk=batch.pk).update(
        status=BatchStatus.PROCESSING, started_at=_ago(hours=2), runs=svc.ENROLMENT_MAX_RUNS
    )

    done = svc.enrolment_batch_process(batch_id=batch.pk)

    assert done.status == BatchStatus.DONE
    assert verdicts(done) == {"a.jpg": (ItemStatus.ERROR, "interrupted")}
    assert "upload it again" in done.items.get().message
    assert biometric_store.files_in(biometric_store.watchlist_folder(cast.deployment.pk) + "/uploads") == []
    assert AuditEvent.objects.filter(action="watchlist.batch_processed", target_id=str(batch.pk)).exists()


def test_a_zip_whose_expansion_keeps_killing_the_worker_is_refused_and_removed(cast, queued):
    batch = upload(cast.compiler, cast.deployment, [("a.zip", make_zip({"a.jpg": photo("obama.jpg")}))])
    type(batch).objects.filter(pk=batch.pk).update(
        status=BatchStatus.PROCESSING, started_at=_ago(hours=2), runs=svc.ENROLMENT_MAX_RUNS
    )

    done = svc.enrolment_batch_process(batch_id=batch.pk)

    assert done.status == BatchStatus.REFUSED and "upload it again" in done.message
    assert biometric_store.files_in(biometric_store.watchlist_folder(cast.deployment.pk)) == []


def test_a_run_out_of_time_hands_the_rest_to_a_new_run_at_once(cast, queued, monkeypatch):
    """The soft time limit is not a dead worker: the batch is queued again now and the run is not counted."""
    from celery.exceptions import SoftTimeLimitExceeded

    batch = upload(
        cast.compiler, cast.deployment, [("a.jpg", photo("obama.jpg")), ("b.png", photo("alex-lacamoire.png"))]
    )
    real = svc.enrolment_item_process
    calls: list[int] = []

    def time_runs_out_on_the_second(*, item_id):
        calls.append(item_id)
        if len(calls) == 2:
            raise SoftTimeLimitExceeded()
        return real(item_id=item_id)

    monkeypatch.setattr(svc, "enrolment_item_process", time_runs_out_on_the_second)
    with pytest.raises(SoftTimeLimitExceeded):
        svc.enrolment_batch_process(batch_id=batch.pk)

    batch.refresh_from_db()
    assert (batch.status, batch.runs, queued) == (BatchStatus.PENDING, 0, [batch.pk])
    monkeypatch.setattr(svc, "enrolment_item_process", real)
    done = svc.enrolment_batch_process(batch_id=batch.pk)
    assert done.status == BatchStatus.DONE and done.runs == 1
    assert verdicts(done) == {"a.jpg": (ItemStatus.ENROLLED, ""), "b.png": (ItemStatus.ENROLLED, "")}
