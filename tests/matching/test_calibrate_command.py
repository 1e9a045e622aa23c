"""`manage.py calibrate` end to end on the shared people/ folder (LFW layout) with its pairs.txt."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from compliance.choices import Role
from compliance.crypto import decrypt_bytes
from compliance.models import AuditEvent
from matching.models import CalibrationRecord, CalibrationStatus, EncodingCache
from tests.shared_data import faces_dir

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def people() -> Path:
    return faces_dir() / "people"


def run_calibrate(*args: str) -> tuple[str, str]:
    """The command as a person runs it: `--user` is required (separation of duties), so one is added if absent."""
    if "--user" not in args:
        from django.contrib.auth import get_user_model

        get_user_model().objects.get_or_create(username="calibration-runner", defaults={"role": Role.DPO})
        args = (*args, "--user", "calibration-runner")
    out, err = io.StringIO(), io.StringIO()
    call_command("calibrate", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_calibrate_people_stores_figures_and_reuses_the_cache_on_a_rerun(people, tmp_path, make_user):
    dpo = make_user(Role.DPO, username="dpo-runner")
    plot = tmp_path / "plots" / "det.png"
    common = ["--pairs", str(people / "pairs.txt"), "--watchlist-sizes", "2,4,5,100", "--local", "--workers", "2"]

    out, err = run_calibrate(
        str(people), *common, "--user", dpo.username, "--plot", str(plot), "--description", "shared people"
    )

    assert "Encodings: 9 computed, 0 from the cache" in out
    assert "9/9" in err  # the progress bar reached the end
    record = CalibrationRecord.objects.get()
    assert (record.identities, record.images, record.failed_images, record.pairs) == (5, 9, 0, 8)
    assert record.status == CalibrationStatus.DRAFT
    assert record.ran_by == dpo and record.description == "shared people"
    assert record.dataset_path == str(people.resolve()) and len(record.dataset_hash) == 64
    verification = record.verification
    assert verification["pairs"] == 8 and verification["threshold"] == pytest.approx(0.6)
    assert (verification["accuracy"], verification["tar"], verification["far"]) == (1.0, 1.0, 0.0)
    assert 0.41 < verification["best_threshold"] < 0.76
    assert verification["cross_validation"] is None  # a count header has no folds
    assert "accuracy 100.0%" in out

    by_size = {entry["size"]: entry for entry in record.identification["sizes"]}
    assert by_size[2]["status"] == by_size[4]["status"] == "ok"
    assert by_size[5]["status"] == by_size[100]["status"] == "refused"
    assert record.measured_sizes == [2, 4]
    assert out.count("REFUSED") == 2
    assert "a watch-list of 100 needs 100 identities with two or more images; the dataset has 4" in out
    assert {(p["size"], p["policy"]) for p in record.operating_points} == {
        (2, "threshold"),
        (2, "margin"),
        (4, "threshold"),
        (4, "margin"),
    }
    assert all(p["budget_resolvable"] is False for p in record.operating_points)  # 5 unlisted faces, budget 1e-4
    assert "too few to measure" in out

    assert plot.read_bytes().startswith(PNG_SIGNATURE)
    assert bytes(record.det_plot) == plot.read_bytes()
    event = AuditEvent.objects.get(action="calibration.recorded")
    assert event.actor_id == dpo.pk and event.target_id == str(record.pk)
    assert event.after["images"] == 9

    cached = EncodingCache.objects.all()
    assert cached.count() == 9 and all(row.error_code == "" for row in cached)
    assert all(len(decrypt_bytes(row.encrypted_encoding)) == 512 != len(row.encrypted_encoding) for row in cached)

    out2, _err2 = run_calibrate(str(people), *common)

    assert "Encodings: 0 computed, 9 from the cache" in out2
    assert EncodingCache.objects.count() == 9
    second = CalibrationRecord.objects.exclude(pk=record.pk).get()
    assert second.ran_by.username == "calibration-runner" and second.dataset_hash == record.dataset_hash
    assert second.verification == verification
    assert second.identification == record.identification


@pytest.mark.django_db
def test_calibrate_reports_figures_per_group_side_by_side(people, tmp_path):
    attributes = tmp_path / "groups.csv"
    attributes.write_text(
        "identity,group\nBarack_Obama,A\nJoe_Biden,A\nKit_Harington,B\nRose_Leslie,B\nAlex_Lacamoire,B\nNobody,C\n"
    )

    out, _err = run_calibrate(str(people), "--watchlist-sizes", "2,50", "--local", "--attributes", str(attributes))

    record = CalibrationRecord.objects.get()
    assert record.pairs == 0 and record.verification is None
    assert set(record.groups["groups"]) == {"A", "B"}
    sizes_a = {s["size"]: s["status"] for s in record.groups["groups"]["A"]["sizes"]}
    assert sizes_a == {2: "ok", 50: "refused"}
    assert "Figures by group" in out
    assert "1 identities in the attributes file are not in the dataset" in out
    lines = [line.split() for line in out.splitlines() if line.strip().startswith("2 ")]
    assert {parts[1] for parts in lines if len(parts) > 1} >= {"A", "B"}


@pytest.mark.django_db
def test_calibrate_without_local_fails_clearly_when_no_worker_answers(people, monkeypatch):
    from lfr_portal.celery import app

    monkeypatch.setattr(app.control, "ping", lambda timeout: [])

    with pytest.raises(CommandError, match="--local"):
        run_calibrate(str(people), "--watchlist-sizes", "2")
    assert not CalibrationRecord.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--watchlist-sizes", "ten"], "whole numbers"),
        (["--watchlist-sizes", "0"], "size of 1 or more"),
        (["--budget", "2"], "at most 1"),
        (["--user", "nobody"], "No active user"),
        (["--pairs", "/nonexistent/pairs.txt"], "Cannot read --pairs"),
    ],
)
def test_calibrate_refuses_bad_options(people, args, message):
    with pytest.raises(CommandError, match=message):
        run_calibrate(str(people), "--local", *args)


def test_calibrate_refuses_a_missing_or_empty_folder(tmp_path, db):
    with pytest.raises(CommandError, match="not a folder"):
        run_calibrate(str(tmp_path / "missing"), "--local")
    with pytest.raises(CommandError, match="no JPEG or PNG"):
        run_calibrate(str(tmp_path), "--local")


@pytest.mark.django_db
def test_calibrate_dispatches_a_group_to_the_calibration_queue_when_a_worker_answers(people, monkeypatch):
    import celery

    from lfr_portal.celery import app
    from matching.management.commands import calibrate

    monkeypatch.setattr(calibrate, "check_worker", lambda: None)
    # Eager for this test only: the group runs in-process; the worker round trip is the integration suite's job.
    eager_before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    sent: list[tuple[str, str | None]] = []
    real_group = celery.group

    def recording_group(signatures):
        signatures = list(signatures)
        sent.extend((sig.task, sig.options.get("queue")) for sig in signatures)
        return real_group(signatures)

    monkeypatch.setattr(celery, "group", recording_group)
    try:
        out, err = run_calibrate(str(people), "--watchlist-sizes", "2")
    finally:
        app.conf.task_always_eager = eager_before

    assert sent == [("matching.tasks.encode_calibration_image", "calibration")] * 9
    assert "Encoding on Celery workers" in err and "Encodings: 9 computed, 0 from the cache" in out
    assert CalibrationRecord.objects.get().failed_images == 0


def test_a_calibration_encoding_leaves_the_worker_encrypted(people):
    # On workers the result passes through the Celery result backend (Redis, or files under var/): the face
    # template in it must be ciphertext, and decrypt to what the engine computes.
    import json

    import numpy as np

    from matching import engine
    from matching.config import engine_config
    from matching.tasks import encode_calibration_file

    path = sorted(people.glob("*/*.jpg"))[0]
    result = encode_calibration_file(str(path), engine_config().to_dict())
    assert result["error"] is None and isinstance(result["encoding"], str)
    assert "[" not in json.dumps(result["encoding"])  # no list of floats anywhere in what is serialised
    decrypted = engine.encoding_from_bytes(decrypt_bytes(result["encoding"].encode("ascii")))
    expected = engine.enrolment_encoding(path.read_bytes(), config=engine_config(), max_pixels=40_000_000).encoding
    assert np.allclose(decrypted, expected, atol=1e-6)


def test_the_person_running_a_calibration_must_be_named(people):
    """Separation of duties: the runner is recorded so that they cannot approve it themselves."""
    with pytest.raises(CommandError, match="--user"):
        call_command("calibrate", str(people), "--local", stdout=io.StringIO(), stderr=io.StringIO())


@pytest.mark.django_db
@pytest.mark.parametrize("username", ["", "  "])
def test_an_empty_user_is_refused_before_anything_is_measured_or_stored(people, username):
    """`--user ""` passed the required option and stored a record nobody ran, which anyone could then approve."""
    with pytest.raises(CommandError, match="--user needs the username"):
        run_calibrate(str(people), "--local", "--watchlist-sizes", "2", "--user", username)
    assert not CalibrationRecord.objects.exists() and not EncodingCache.objects.exists()
