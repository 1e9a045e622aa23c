"""Watch-list test helpers: generated bad inputs, zips, a budget stub, and enrolment through the services."""

from __future__ import annotations

import datetime
import io
import struct
import sys
import types
import zipfile
import zlib
from dataclasses import dataclass
from typing import Any

import pytest
from django.utils import timezone
from PIL import Image

from compliance.choices import Role, WatchlistCategory
from compliance.models import Deployment, EnrolmentBatch, User
from compliance.services import watchlists as svc
from tests.compliance import deployment_helpers
from tests.shared_data import face_path

TEST_KEY = "dGVzdC1vbmx5LWtleS0wMDAwMDAwMDAwMDAwMDAwMDA="


def photo(name: str) -> bytes:
    return face_path(name).read_bytes()


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def blank_image() -> bytes:
    return png_bytes(Image.new("RGB", (320, 240), (128, 128, 128)))


def gif_image() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 20, 30)).save(buffer, "GIF")
    return buffer.getvalue()


def truncated_jpeg() -> bytes:
    data = photo("obama.jpg")
    return data[: len(data) // 3]


def huge_declared_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A real small PNG whose header claims a gigantic size (a decompression bomb's calling card)."""
    data = bytearray(png_bytes(Image.new("RGB", (8, 8))))
    ihdr = bytearray(data[12:29])  # b"IHDR" + 13 bytes
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)) & 0xFFFFFFFF)
    return bytes(data)


def small_face_jpeg() -> bytes:
    """Obama scaled down until his face is about 72 px: detectable, but under a 100 px configured minimum."""
    image = Image.open(face_path("obama.jpg"))
    small = image.resize((int(image.width * 0.2), int(image.height * 0.2)))
    buffer = io.BytesIO()
    small.save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def make_zip(members: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return buffer.getvalue()


def metadata(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "category": WatchlistCategory.WANTED_BY_COURTS,
        "offence_or_reason": "Failed to appear: robbery, warrant 123/24",
        "justification": "Active warrant; intelligence places him in the town centre.",
        "legal_basis": "Custody image held under PACE s.64A",
        "source": "custody",
        "captured_on": timezone.localdate() - datetime.timedelta(days=200),
        "sensitive_or_third_party": False,
    }
    values.update(overrides)
    return values


def upload(compiler: User, deployment: Deployment, files: list[tuple[str, bytes]], **overrides: Any) -> EnrolmentBatch:
    return svc.enrolment_batch_create(actor=compiler, deployment=deployment, files=files, **metadata(**overrides))


def enrol(compiler: User, deployment: Deployment, files: list[tuple[str, bytes]], **overrides: Any) -> EnrolmentBatch:
    """Upload and run the worker's service directly (the task is covered by the dispatch test)."""
    batch = upload(compiler, deployment, files, **overrides)
    return svc.enrolment_batch_process(batch_id=batch.pk)


@dataclass
class Cast:
    applicant: User
    ao: User
    approver: User
    compiler: User
    dpo: User
    deployment: Deployment


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.LFR_ENCODING_KEYS = [TEST_KEY]
    from compliance.crypto import reset_keys
    from compliance.selectors.watchlists import clear_gallery_cache

    reset_keys()
    clear_gallery_cache()
    yield settings.MEDIA_ROOT
    reset_keys()
    clear_gallery_cache()


@pytest.fixture
def cast(make_user, media) -> Cast:
    applicant = make_user(Role.APPLICANT)
    ao = make_user(Role.AUTHORISING_OFFICER)
    deployment = deployment_helpers.authorised(applicant, ao)
    return Cast(
        applicant=applicant,
        ao=ao,
        approver=make_user(Role.AUTHORISING_OFFICER),
        compiler=make_user(Role.WATCHLIST_COMPILER),
        dpo=make_user(Role.DPO),
        deployment=deployment,
    )


@dataclass
class FakeAssessment:
    calibrated: bool = True
    expected_fpir: float | None = 0.00005
    expected_tpir: float | None = 0.91
    false_alerts_per_10k: float | None = 0.5
    budget_fpir: float = 0.0001
    budget_met: bool | None = True
    record_id: int | None = 7
    how: str = "interpolated"
    message: str = "Within the budget."


@pytest.fixture
def budget(monkeypatch):
    """Control matching.budget.expected_performance; returns a dict whose 'result' the test may replace."""
    state: dict[str, Any] = {"result": FakeAssessment(), "calls": []}

    def fake(*, watchlist_size: int, threshold: float, policy: str, margin: float = 0.0) -> FakeAssessment:
        state["calls"].append({"size": watchlist_size, "threshold": threshold, "policy": policy, "margin": margin})
        return state["result"]

    try:
        import matching.budget as module
    except ImportError:
        module = types.ModuleType("matching.budget")
        monkeypatch.setitem(sys.modules, "matching.budget", module)
        import matching

        monkeypatch.setattr(matching, "budget", module, raising=False)
    monkeypatch.setattr(module, "expected_performance", fake, raising=False)
    return state


UNCALIBRATED = FakeAssessment(
    calibrated=False,
    expected_fpir=None,
    expected_tpir=None,
    false_alerts_per_10k=None,
    budget_met=None,
    record_id=None,
    how="uncalibrated",
    message="No active calibration.",
)
OVER_BUDGET = FakeAssessment(expected_fpir=0.0008, false_alerts_per_10k=8.0, budget_met=False, message="Over budget.")
