"""The live-matching demo: with sample faces available, a live deployment whose approved watch-list holds
lin-manuel-miranda.png, and a one-click stream of short_hamilton_clip.mp4 into its session (make run).

LFR_DEMO_FACES names the folder; by default ../shared/data/faces next to the repository, when it exists.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from compliance.choices import OffenceType, Role, UseCase, WatchlistCategory
from compliance.models import CameraUnit, Deployment
from compliance.permissions import has_role

DEMO_TITLE = "Demo: live matching on the high street"
DEMO_CAMERA = "demo-van-1"
WATCHED = "lin-manuel-miranda.png"
CLIP = "short_hamilton_clip.mp4"
NO_FACES_HINT = _(
    "No sample faces are installed, so there is no demo stream. To try the matcher: as the compiler, upload photos "
    "to a deployment's watch-list; have an AO approve it; start a session; then run "
    "`python manage.py stream --session ID --source 0 --fps 5` for a webcam, or --source path/to/video.mp4."
)


def demo_faces_dir() -> Path | None:
    configured = getattr(settings, "LFR_DEMO_FACES", "") or ""
    folder = Path(configured) if configured else Path(settings.BASE_DIR).parent / "shared" / "data" / "faces"
    return folder if (folder / WATCHED).is_file() and (folder / CLIP).is_file() else None


def demo_deployment() -> Deployment | None:
    return Deployment.objects.filter(title=DEMO_TITLE).order_by("-id").first()


def console_context(user: Any, session: Any = None) -> dict[str, Any]:
    """What the session pages show about the demo: the stream button (operator, demo session) or a hint."""
    available = demo_faces_dir() is not None
    demo = demo_deployment()
    can_stream = bool(
        available
        and settings.DEBUG
        and demo is not None
        and session is not None
        and session.deployment_id == demo.pk
        and has_role(user, Role.LFR_OPERATOR)
    )
    return {"available": available, "can_stream": can_stream, "hint": "" if available else NO_FACES_HINT}


@login_required
@require_POST
def demo_stream_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Queue the demo clip for streaming into the demo session (LFR Operator, demo mode only)."""
    from matching.models import MatchingSession
    from matching.tasks import stream_demo_clip

    session = MatchingSession.objects.filter(pk=pk).first()
    if session is None or not console_context(request.user, session)["can_stream"]:
        raise Http404
    stream_demo_clip.delay(session.pk)
    messages.success(request, _("Streaming the demo clip: alerts appear below within a few seconds."))
    return redirect("session_console", pk=pk)


def _demo_camera(admin: Any) -> CameraUnit:
    """The demo van, with a usable token issued by the Administrator: the stream button submits frames as this unit,
    and streaming is refused to a unit without one (matching.streaming.camera_principal). Nothing presents the
    secret, so it is not shown; an Administrator who wants it for the API rotates the token. A unit someone made
    inactive stays so."""
    from matching.selectors.sessions import active_token
    from matching.services import cameras as camera_services

    camera, _created = CameraUnit.objects.get_or_create(
        identifier=DEMO_CAMERA, defaults={"force": settings.LFR_FORCE_NAME, "description": "Demo LFR van camera"}
    )
    if camera.active and active_token(camera) is None:
        camera_services.camera_token_issue(actor=admin, camera_unit=camera)
    return camera


def seed(command: Any, users: dict[str, Any]) -> None:
    """seed_demo: a deployment live now, with the demo team, signage, and an approved one-person watch-list."""
    folder = demo_faces_dir()
    if folder is None:
        command.stdout.write(str(NO_FACES_HINT))
        return
    from compliance.selectors.watchlists import watchlist_gate
    from compliance.services import deployments as deployment_services
    from compliance.services import watchlists as watchlist_services

    now = timezone.now()
    camera = _demo_camera(users["admin"])
    existing = demo_deployment()
    if existing is not None and existing.status == "authorised" and existing.window_at(now) is not None:
        passed, _reason = watchlist_gate(existing, now)
        if passed:
            command.stdout.write(f"Live-matching demo deployment {existing.reference} is ready.")
            return
    applicant, ao, compiler = users["applicant"], users["ao"], users["compiler"]
    start = now - datetime.timedelta(minutes=5)
    deployment = deployment_services.deployment_create(
        actor=applicant,
        title=DEMO_TITLE,
        windows=[(start, start + datetime.timedelta(hours=settings.LFR_MAX_WINDOW_HOURS))],
        camera_unit_ids=[camera.pk],
        use_case=UseCase.CRIME_HOTSPOT,
        objectives="Demonstrate live matching with sample public photos.",
        offence_types=[OffenceType.ROBBERY],
        location_name="Demo High Street",
        location_address="High Street, Demo Town",
        latitude=51.5,
        longitude=-0.12,
        zone_of_recognition="20 m in front of the demo van",
        location_grounds="Demonstration only: sample clip from the face_recognition project (MIT).",
        necessity="Demonstration.",
        proportionality="Demonstration with one sample identity.",
        alternatives_considered="Not applicable: demonstration data.",
        watchlist_categories=[WatchlistCategory.WANTED_ON_SUSPICION],
        watchlist_max_size=5,
        match_threshold=min(0.55, float(settings.LFR_POLICY_THRESHOLD)),
        dpia_reference="DEMO-DPIA",
        dpia_version="1",
        eia_reference="DEMO-EIA",
        apd_reference="DEMO-APD",
        public_notice_at=now - datetime.timedelta(minutes=10),
        public_notice_where="Demo notice",
        public_notice_text="Live facial recognition demonstration.",
        critical_threat_justification="Demonstration data only; no member of the public is scanned.",
        standalone_attested=True,
    )
    deployment_services.deployment_submit(actor=applicant, deployment=deployment)
    deployment_services.deployment_authorise(
        actor=ao, deployment=deployment, rationale="Demonstration.", expires_at=now + datetime.timedelta(days=2)
    )
    deployment_services.deployment_set_assigned_officers(
        actor=applicant, deployment=deployment, officer_ids=[users["operator"].pk, users["engagement"].pk]
    )
    deployment_services.signage_record_add(
        actor=applicant, deployment=deployment, position_description="Demo signs", sign_count=2, placed_at=start
    )
    batch = watchlist_services.enrolment_batch_create(
        actor=compiler,
        deployment=deployment,
        files=[(WATCHED, (folder / WATCHED).read_bytes())],
        category=WatchlistCategory.WANTED_ON_SUSPICION,
        offence_or_reason="Demonstration subject (public sample photo)",
        justification="Demonstration only.",
        legal_basis="Sample image from the face_recognition project (MIT licence), for demonstration.",
        source="other",
        captured_on=timezone.localdate() - datetime.timedelta(days=30),
        person_reference="DEMO-1",
    )
    watchlist_services.enrolment_batch_process(batch_id=batch.pk)
    watchlist_services.watchlist_approve(
        actor=ao, deployment=deployment, acknowledgement="Demonstration: uncalibrated matcher acknowledged."
    )
    command.stdout.write(
        f"Live-matching demo: deployment {deployment.reference} is live with an approved watch-list. Sign in as "
        "'operator', open Live sessions, start a session on demo-van-1 and press 'Stream the demo clip'."
    )


def register() -> None:
    from compliance.management.commands.seed_demo import DEMO_SEEDERS

    if seed not in DEMO_SEEDERS:
        DEMO_SEEDERS.append(seed)
