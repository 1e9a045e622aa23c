"""Key rotation covers every encrypted artefact (domain.md 3): watch-list data, probe crops, the calibration encoding
cache, signage photos and stray files; after the old key is removed, everything still decrypts."""

from __future__ import annotations

import datetime

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils import timezone

from compliance import biometric_store
from compliance.crypto import InvalidToken, decrypt_bytes, reset_keys
from compliance.models import AuditEvent, ReferenceImage, SignageRecord
from compliance.selectors import watchlists as wl_selectors
from compliance.services import deployments as deployment_services
from compliance.services import watchlists as watchlist_services
from matching import crypto_rotation
from matching.models import Alert, EncodingCache
from matching.services import alerts as alert_services
from matching.services import calibration as calibration_services
from matching.services import frames as frame_services
from matching.services import sessions as session_services
from tests.compliance.watchlist_helpers import TEST_KEY
from tests.matching.live_helpers import face_jpeg

pytestmark = pytest.mark.django_db

NEW_KEY = "bmV3LXJvdGF0ZWQta2V5LTAwMDAwMDAwMDAwMDAwMDA="
FINGERPRINT = "f" * 64


def _raise_alert(live) -> Alert:
    session = session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=live.camera)
    accepted = frame_services.frame_submit(
        actor=live.principal, session_id=session.pk, data=face_jpeg(), captured_at=timezone.now()
    )
    assert frame_services.frame_process(session_id=session.pk, frame_id=accepted.frame_id, captured_at=timezone.now())
    return Alert.objects.get()


def _use_keys(settings, *keys: str) -> None:
    settings.LFR_ENCODING_KEYS = list(keys)
    reset_keys()


def test_rotation_reencrypts_probe_crops_cache_signage_and_watchlist_data(live, settings, monkeypatch):
    monkeypatch.setattr(crypto_rotation, "BATCH_SIZE", 1)  # several batches, so batching is exercised
    alert = _raise_alert(live)
    probe_before = alert_services.decrypt_probe(alert)
    vectors = {"a" * 64: np.arange(128, dtype=np.float32), "b" * 64: np.ones(128, dtype=np.float32)}
    calibration_services.encoding_cache_store(
        engine_fingerprint=FINGERPRINT,
        results={**{h: (v, "") for h, v in vectors.items()}, "c" * 64: (None, "no_face")},
    )
    sign_photo = face_jpeg()
    record = deployment_services.signage_record_add(
        actor=live.applicant,
        deployment=live.deployment,
        position_description="A1 sign at the north exit",
        sign_count=1,
        placed_at=timezone.now() - datetime.timedelta(minutes=5),
        photo=SimpleUploadedFile("sign.jpg", sign_photo, content_type="image/jpeg"),
    )
    gallery_before = wl_selectors.load_gallery(live.deployment.pk).gallery.matrix.copy()
    old_probe_token = bytes(Alert.objects.get(pk=alert.pk).probe_crop)
    old_cache_tokens = {
        r.file_sha256: bytes(r.encrypted_encoding) for r in EncodingCache.objects.exclude(error_code="no_face")
    }

    _use_keys(settings, NEW_KEY, TEST_KEY)
    call_command("rotate_encoding_key")
    _use_keys(settings, NEW_KEY)  # the old key is removed
    wl_selectors.clear_gallery_cache()

    alert.refresh_from_db()
    assert bytes(alert.probe_crop) != old_probe_token
    assert alert_services.decrypt_probe(alert) == probe_before
    cached = calibration_services.encoding_cache_lookup(file_hashes=list(vectors), engine_fingerprint=FINGERPRINT)
    for file_hash, vector in vectors.items():
        assert np.array_equal(cached[file_hash][0], vector)
        row = EncodingCache.objects.get(file_sha256=file_hash)
        assert bytes(row.encrypted_encoding) != old_cache_tokens[file_hash]
    record.refresh_from_db()
    assert biometric_store.read_decrypted(record.photo_path) == sign_photo
    assert np.array_equal(wl_selectors.load_gallery(live.deployment.pk).gallery.matrix, gallery_before)
    for path in ReferenceImage.objects.values_list("image_path", flat=True):
        assert biometric_store.read_decrypted(path)

    event = AuditEvent.objects.get(action="encryption.keys_rotated")
    counts = event.after
    assert counts["probe_crops"] == 1
    assert counts["calibration_encodings"] == 2  # the error-only row holds no encoding
    assert counts["signage_photos"] == 1
    assert counts["encodings"] == 1 and counts["watchlist_images"] == 1 and counts["library_images"] == 1
    assert counts["missing_files"] == 0 and counts["undecryptable_files"] == 0


def test_without_rotation_the_old_key_is_needed_for_probe_crops(live, settings):
    """The guard for the test above: removing the old key without rotating loses the probe crop."""
    alert = _raise_alert(live)
    _use_keys(settings, NEW_KEY)
    with pytest.raises(InvalidToken):
        decrypt_bytes(bytes(alert.probe_crop))


def test_unreferenced_files_in_the_encrypted_folders_are_rotated_and_counted(live, settings):
    biometric_store.write_encrypted("library/stray.bin", b"left by a rolled-back upload")
    _use_keys(settings, NEW_KEY, TEST_KEY)
    counts = watchlist_services.encryption_keys_rotate(actor=None)
    _use_keys(settings, NEW_KEY)

    assert counts["unreferenced_files"] == 1
    assert biometric_store.read_decrypted("library/stray.bin") == b"left by a rolled-back upload"
    assert not SignageRecord.objects.exclude(photo_path="").exists()


def test_matching_rotators_are_registered_once():
    registered = watchlist_services.extra_rotators
    assert registered.count(crypto_rotation.rotate_probe_crops) == 1
    assert registered.count(crypto_rotation.rotate_calibration_encodings) == 1
