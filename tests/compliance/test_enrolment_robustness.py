"""Enrolment that survives its worker dying on one image, and unpacking that cannot outlive a destruction
(domain.md 3: the rest of a batch still enrols; domain.md 6: after a destruction nothing can be found)."""
# ruff: noqa: F811  (fixtures are imported from watchlist_helpers by name)

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from freezegun import freeze_time

from compliance import biometric_store, tasks, zipsafe
from compliance.models import AuditEvent, EnrolmentBatch, EnrolmentItem, Watchlist
from compliance.models.watchlists import BatchStatus, ItemStatus, WatchlistStatus
from compliance.services import deployments as deployment_services
from compliance.services import watchlists as svc
from tests.compliance.watchlist_helpers import (  # noqa: F401  (fixtures)
    blank_image,
    cast,
    make_zip,
    media,
    photo,
    upload,
)

pytestmark = pytest.mark.django_db


class WorkerKilled(BaseException):
    """What the service sees of a worker killed for memory or by the hard time limit: nothing it may catch."""


def verdicts(batch_id: int) -> dict[str, tuple[str, str]]:
    return {i.file_name: (i.status, i.error_code) for i in EnrolmentItem.objects.filter(batch_id=batch_id)}


@pytest.fixture
def queued(monkeypatch):
    sent: list[int] = []
    monkeypatch.setattr(tasks.process_enrolment_batch, "delay", sent.append)
    return sent


@pytest.fixture
def killer(monkeypatch):
    """The encoder kills the worker whenever it is given one of the images in the returned set."""
    deadly: set[bytes] = set()
    real = svc.enrolment_encoding

    def encoding(data, **kwargs):
        if data in deadly:
            raise WorkerKilled()
        return real(data, **kwargs)

    monkeypatch.setattr(svc, "enrolment_encoding", encoding)
    return deadly


def run_until_the_worker_dies(batch_id: int) -> None:
    with pytest.raises(WorkerKilled):
        tasks.process_enrolment_batch.run(batch_id)


def resume_after_the_dead_run(batch_id: int, queued: list[int]) -> None:
    """What the beat does once the dead run's hard time limit has long passed: queue the batch again, and a worker
    runs it (here: the task function called directly)."""
    EnrolmentBatch.objects.filter(pk=batch_id).update(started_at=timezone.now() - svc.ENROLMENT_TAKEOVER * 2)
    queued.clear()
    assert tasks.resume_stalled_enrolment.run() == [batch_id] and queued == [batch_id]


def test_images_that_kill_the_worker_get_their_own_verdict_and_every_other_image_enrols(cast, queued, killer):
    """Two images kill the worker each time they are checked. Each is retried once, then named on its own; the
    three good photos before, between and after them are all enrolled. Before, every run died on the first bad
    image again, and after three runs every image from it on was marked `interrupted`."""
    bad_one, bad_two = blank_image(), photo("two_people.jpg")
    killer.update({bad_one, bad_two})
    batch = upload(
        cast.compiler,
        cast.deployment,
        [
            ("a.jpg", photo("obama.jpg")),
            ("huge-1.png", bad_one),
            ("b.png", photo("alex-lacamoire.png")),
            ("huge-2.jpg", bad_two),
            ("c.png", photo("lin-manuel-miranda.png")),
        ],
    )

    run_until_the_worker_dies(batch.pk)  # run 1: a.jpg enrolled, dies on huge-1
    marked = EnrolmentItem.objects.get(batch=batch, file_name="huge-1.png")
    assert marked.status == ItemStatus.PENDING and marked.started_at is not None  # the next run knows which
    for _run in range(3):  # huge-1 again, then (huge-1 named, b enrolled) huge-2 twice
        resume_after_the_dead_run(batch.pk, queued)
        run_until_the_worker_dies(batch.pk)
    resume_after_the_dead_run(batch.pk, queued)
    tasks.process_enrolment_batch.run(batch.pk)

    done = EnrolmentBatch.objects.get(pk=batch.pk)
    assert done.status == BatchStatus.DONE
    assert verdicts(batch.pk) == {
        "a.jpg": (ItemStatus.ENROLLED, ""),
        "huge-1.png": (ItemStatus.ERROR, svc.WORKER_CRASHED),
        "b.png": (ItemStatus.ENROLLED, ""),
        "huge-2.jpg": (ItemStatus.ERROR, svc.WORKER_CRASHED),
        "c.png": (ItemStatus.ENROLLED, ""),
    }
    named = EnrolmentItem.objects.get(batch=batch, file_name="huge-1.png")
    assert "huge-1.png" in named.message and "too large or malformed" in named.message
    assert named.worker_deaths == svc.ENROLMENT_ITEM_MAX_DEATHS and named.upload_path == ""
    assert done.runs == 1  # the four dead runs were charged to the two images, not to the batch
    assert "2 file(s) made the enrolment worker fail" in done.message
    event = AuditEvent.objects.get(action="watchlist.batch_processed", target_id=str(batch.pk))
    assert event.after["error_codes"] == {svc.WORKER_CRASHED: 2} and event.after["enrolled"] == 3
    assert "huge" not in str(event.after)  # file names may be person references: never in the log
    assert biometric_store.files_in(biometric_store.watchlist_folder(cast.deployment.pk) + "/uploads") == []


def test_a_worker_dying_once_on_an_image_does_not_cost_that_image(cast, queued, killer):
    """The first death may have nothing to do with the image (a restart for a deployment): it is checked again."""
    good = photo("alex-lacamoire.png")
    killer.add(good)
    batch = upload(cast.compiler, cast.deployment, [("a.jpg", photo("obama.jpg")), ("b.png", good)])
    run_until_the_worker_dies(batch.pk)

    killer.clear()  # the worker was restarted; the image itself is fine
    resume_after_the_dead_run(batch.pk, queued)
    tasks.process_enrolment_batch.run(batch.pk)

    assert verdicts(batch.pk) == {"a.jpg": (ItemStatus.ENROLLED, ""), "b.png": (ItemStatus.ENROLLED, "")}
    assert EnrolmentItem.objects.get(batch=batch, file_name="b.png").worker_deaths == 1
    assert EnrolmentBatch.objects.get(pk=batch.pk).message == ""


def test_a_run_out_of_time_does_not_blame_the_image_it_was_checking(cast, queued, monkeypatch):
    from celery.exceptions import SoftTimeLimitExceeded

    batch = upload(cast.compiler, cast.deployment, [("a.jpg", photo("obama.jpg"))])
    real = svc.enrolment_encoding
    calls: list[int] = []

    def slow_once(data, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise SoftTimeLimitExceeded()
        return real(data, **kwargs)

    monkeypatch.setattr(svc, "enrolment_encoding", slow_once)
    with pytest.raises(SoftTimeLimitExceeded):
        tasks.process_enrolment_batch.run(batch.pk)
    item = EnrolmentItem.objects.get(batch=batch)
    assert item.started_at is None

    tasks.process_enrolment_batch.run(batch.pk)
    item.refresh_from_db()
    assert (item.status, item.worker_deaths) == (ItemStatus.ENROLLED, 0)


# ----------------------------------------------------------------------------------------------------------------
# A destruction while a zip is being unpacked


def revoke_midway_through_the_archive(monkeypatch, cast) -> None:
    """The AO revokes the deployment after the worker wrote the first unpacked image and before the next: the
    destruction commits, removes the folder and records its evidence while the worker is still unpacking."""
    real = zipsafe.members

    def members(data, limits):
        for position, member in enumerate(real(data, limits)):
            if position == 1:
                deployment_services.deployment_revoke(actor=cast.ao, deployment=cast.deployment, reason="Withdrawn.")
                evidence = Watchlist.objects.get(deployment=cast.deployment).destruction_evidence
                assert evidence["clean"] is True, evidence  # checked, and clean, at that moment
            yield member

    monkeypatch.setattr(zipsafe, "members", members)


@pytest.mark.django_db(transaction=True)  # real commits: the destruction commits while the worker unpacks
def test_a_zip_unpacked_while_its_watch_list_is_destroyed_leaves_no_file(cast, queued, monkeypatch):
    archive = make_zip({"a.jpg": photo("obama.jpg"), "b.png": photo("alex-lacamoire.png"), "c.png": blank_image()})
    batch = upload(cast.compiler, cast.deployment, [("faces.zip", archive)])
    revoke_midway_through_the_archive(monkeypatch, cast)

    assert tasks.process_enrolment_batch.run(batch.pk) is None  # no error: the batch went with its watch-list

    folder = biometric_store.watchlist_folder(cast.deployment.pk)
    assert biometric_store.files_in(folder) == [] and not biometric_store.absolute(folder).exists()
    assert not EnrolmentBatch.objects.filter(pk=batch.pk).exists() and not EnrolmentItem.objects.exists()
    assert Watchlist.objects.get(deployment=cast.deployment).status == WatchlistStatus.DESTROYED


def test_files_written_after_a_clean_destruction_check_are_found_removed_and_audited(cast, queued, monkeypatch):
    """A worker that wrote unpacked images after the destruction's clean check and then died (so never cleaned
    up): the reconcile used to look only at unclean evidence, and the encrypted faces stayed for ever."""
    batch = upload(cast.compiler, cast.deployment, [("faces.zip", make_zip({"a.jpg": photo("obama.jpg")}))])
    deployment_services.deployment_revoke(actor=cast.ao, deployment=cast.deployment, reason="Withdrawn.")
    svc.watchlist_destroy(actor=None, deployment=cast.deployment, reason="revoked")
    svc._after_destruction(cast.deployment.pk, None)  # its commit's removal and check: clean
    assert Watchlist.objects.get(deployment=cast.deployment).destruction_evidence["clean"] is True
    stray = biometric_store.watchlist_folder(cast.deployment.pk) + "/uploads/unpacked.bin"
    biometric_store.write_encrypted(stray, photo("obama.jpg"))  # the dying worker's last write
    assert not EnrolmentBatch.objects.filter(pk=batch.pk).exists()

    with freeze_time(timezone.now() + svc.RECONCILE_AFTER + datetime.timedelta(minutes=1)):
        tasks.destroy_due_watchlists.run()

    assert not biometric_store.absolute(stray).exists()
    assert not biometric_store.absolute(biometric_store.watchlist_folder(cast.deployment.pk)).exists()
    found = AuditEvent.objects.get(action="watchlist.destruction_incomplete", deployment_id=cast.deployment.pk)
    assert found.after["files"] == 1
    verified = AuditEvent.objects.filter(action="watchlist.destruction_verified", deployment_id=cast.deployment.pk)
    assert verified.order_by("-seq").first().seq > found.seq
    assert Watchlist.objects.get(deployment=cast.deployment).destruction_evidence["clean"] is True

    with freeze_time(timezone.now() + svc.RECONCILE_AFTER + datetime.timedelta(minutes=6)):
        tasks.destroy_due_watchlists.run()  # nothing left: nothing more is audited
    assert verified.count() == 2
