"""Live-matching test helpers: a deployment that passes every gate now, with a real approved watch-list."""

from __future__ import annotations

import datetime
import io
import shutil
import uuid
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import pytest
from django.utils import timezone
from PIL import Image

from compliance.choices import Role
from compliance.models import CameraUnit, Deployment, User
from compliance.services import deployments as deployment_services
from compliance.services import watchlists as watchlist_services
from matching import framestore
from matching.principals import CameraPrincipal
from matching.services import frames as frame_services
from tests.compliance import deployment_helpers, watchlist_helpers
from tests.compliance.watchlist_helpers import budget, media  # noqa: F401  (fixtures re-exported)
from tests.shared_data import face_path

WATCHED = "lin-manuel-miranda.png"


@dataclass
class Live:
    applicant: User
    ao: User
    approver: User
    compiler: User
    operator: User
    operator2: User
    engagement: User
    dpo: User
    admin: User
    deployment: Deployment
    camera: CameraUnit
    other_camera: CameraUnit
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def principal(self) -> CameraPrincipal:
        return principal_for(self.camera)


def principal_for(camera: CameraUnit) -> CameraPrincipal:
    return CameraPrincipal(camera_unit_id=camera.pk, identifier=camera.identifier, token_id=0)


def build_live(
    make_user: Any,
    *,
    window_end: datetime.datetime | None = None,
    faces: tuple[str, ...] = (WATCHED,),
    references: dict[str, str] | None = None,
    upload: list[tuple[str, bytes]] | None = None,
    **fields: Any,
) -> Live:
    """Authorised deployment with a window around now, signage, notice, team and an approved watch-list.

    `references`: the person reference of some of the `faces` (the others get their file's name); `upload`: files
    (or one zip) enrolled as one more batch; `fields`: deployment fields such as the alert policy."""
    now = timezone.now()
    applicant = make_user(Role.APPLICANT)
    ao = make_user(Role.AUTHORISING_OFFICER)
    camera = deployment_helpers.camera("van-live-1")
    other = deployment_helpers.camera("van-live-2")
    deployment = deployment_helpers.authorised(
        applicant,
        ao,
        window_list=[(now - datetime.timedelta(minutes=30), window_end or now + datetime.timedelta(hours=4))],
        cameras=[camera, other],
        public_notice_at=now - datetime.timedelta(days=2),
        **fields,
    )
    operator = make_user(Role.LFR_OPERATOR)
    operator2 = make_user(Role.LFR_OPERATOR)
    engagement = make_user(Role.ENGAGEMENT_OFFICER)
    deployment_services.deployment_set_assigned_officers(
        actor=applicant, deployment=deployment, officer_ids=[operator.pk, operator2.pk, engagement.pk]
    )
    deployment_services.signage_record_add(
        actor=applicant,
        deployment=deployment,
        position_description="Two A1 signs at each end of the zone",
        sign_count=4,
        placed_at=now - datetime.timedelta(minutes=20),
    )
    compiler = make_user(Role.WATCHLIST_COMPILER)
    approver = make_user(Role.AUTHORISING_OFFICER)
    # Enrolment runs inline here; no enrolment message may reach a real broker from these tests.
    with mock.patch.object(watchlist_services, "_dispatch", lambda batch_id: None):
        for name in faces:
            reference = (references or {}).get(name)
            extra = {"person_reference": reference} if reference else {}
            watchlist_helpers.enrol(compiler, deployment, [(name, face_path(name).read_bytes())], **extra)
        if upload:
            watchlist_helpers.enrol(compiler, deployment, upload)
    watchlist_services.watchlist_approve(actor=approver, deployment=deployment)
    return Live(
        applicant=applicant,
        ao=ao,
        approver=approver,
        compiler=compiler,
        operator=operator,
        operator2=operator2,
        engagement=engagement,
        dpo=make_user(Role.DPO),
        admin=make_user(Role.ADMINISTRATOR),
        deployment=Deployment.objects.get(pk=deployment.pk),
        camera=camera,
        other_camera=other,
    )


@pytest.fixture
def frame_store(settings):
    """A private tmpfs frame store per test."""
    root = f"/dev/shm/lfr-test-{uuid.uuid4().hex}"
    settings.LFR_FRAME_STORE_URL = f"shm://{root}"
    framestore.reset()
    yield framestore.get_store()
    framestore.reset()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def queued(monkeypatch) -> list[tuple[int, str, datetime.datetime]]:
    """Capture frames queued for matching instead of sending them to a broker."""
    calls: list[tuple[int, str, datetime.datetime]] = []
    monkeypatch.setattr(frame_services, "_enqueue", lambda s, f, c: calls.append((s, f, c)))
    return calls


@pytest.fixture
def live(make_user, media, budget, frame_store, queued) -> Live:  # noqa: F811
    return build_live(make_user)


def jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def face_jpeg(name: str = WATCHED) -> bytes:
    """A shared photo re-encoded as a JPEG frame (the camera's format)."""
    return jpeg(Image.open(face_path(name)))


def blank_jpeg() -> bytes:
    return jpeg(Image.new("RGB", (320, 240), (90, 90, 90)))


def clip_frames(*, every: int = 5, limit: int = 40) -> list[bytes]:
    """JPEG frames of the short Hamilton clip (every Nth), decoded in memory with OpenCV."""
    import cv2

    capture = cv2.VideoCapture(str(face_path("short_hamilton_clip.mp4")))
    frames: list[bytes] = []
    index = 0
    try:
        while len(frames) < limit:
            ok, frame = capture.read()
            if not ok:
                break
            if index % every == 0:
                ok, encoded = cv2.imencode(".jpg", frame, [int(cv2.IMWRITE_JPEG_QUALITY), 90])
                if ok:
                    frames.append(encoded.tobytes())
            index += 1
    finally:
        capture.release()
    return frames
