"""Live matching in the portal: sessions, the live console, audited alert images, adjudication, operations.

The console shows crops of alerting faces only, never whole frames: faces that did not match are never shown
(domain.md 5). Where a whole frame is ever displayed it must go through `blurred_frame_jpeg`, which pixelates
every face that did not alert.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from PIL import Image

from compliance.choices import FIELD_ROLES, DeploymentStatus, Role
from compliance.models import CameraUnit, Deployment
from compliance.permissions import has_role, require_role
from compliance.selectors.retention import equality_field_list
from lfr_portal.errors import NotFound, NotPermitted, RuleViolation, ServiceError
from matching import engine
from matching.models import Alert, MatchingSession
from matching.models.sessions import AlertStatus, Outcome
from matching.selectors import sessions as selectors
from matching.services import alerts as alert_services
from matching.services import sessions as session_services

CONSOLE_ROLES = (*FIELD_ROLES, Role.AUTHORISING_OFFICER, Role.DPO)
# Inputs of the optional, self-described equality monitoring fields are named with this prefix and the field name.
EQUALITY_PREFIX = "eq_"
# The console refreshes every second; one audit event per person, alert and image per this many seconds.
VIEW_AUDIT_SECONDS = 300
# A refused engagement is kept in the officer's session, per alert, until it is recorded, the alert no longer awaits
# it, or this many seconds pass. Not one-shot: every render of the console, the one-second refresh included, must
# show the same choices and errors, or portal.js would replace the card a second later with an empty form.
ENGAGEMENT_DRAFTS = "lfr_console_engagements"
ENGAGEMENT_KEPT_SECONDS = 15 * 60
ENGAGEMENT_CHOICES = ("located", "identity_confirmed", "outcome")

T = TypeVar("T")


def blurred_frame_jpeg(image: Any, result: engine.FrameResult) -> bytes:
    """A frame safe to show: every face that did not alert is pixelated (Met policy, domain.md 5)."""
    safe = engine.blur_faces(image, result.non_matched_boxes)
    buffer = io.BytesIO()
    Image.fromarray(safe, "RGB").save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def _session_or_404(user: Any, pk: int) -> MatchingSession:
    try:
        return selectors.session_get(user=user, pk=pk)
    except MatchingSession.DoesNotExist as exc:
        raise Http404 from exc


def _alert_or_404(user: Any, pk: int) -> Alert:
    try:
        return selectors.alert_get(user=user, pk=pk)
    except Alert.DoesNotExist as exc:
        raise Http404 from exc


def _startable(user: Any) -> list[tuple[Deployment, list[CameraUnit], list[str]]]:
    """The operator's authorised deployments, each with the active camera units a session may start on (none: Start
    is not offered) and why any other active unit is not offered (already live, maybe for another deployment)."""
    if not has_role(user, Role.LFR_OPERATOR):
        return []
    active = Prefetch("camera_units", queryset=CameraUnit.objects.filter(active=True), to_attr="active_cameras")
    deployments = list(
        Deployment.objects.filter(assigned_officers=user, status=DeploymentStatus.AUTHORISED).prefetch_related(active)
    )
    live = session_services.cameras_live(actor=user, wanted=[(d, d.active_cameras) for d in deployments])
    return [
        (
            d,
            [c for c in d.active_cameras if (d.pk, c.pk) not in live],
            [live[(d.pk, c.pk)].message for c in d.active_cameras if (d.pk, c.pk) in live],
        )
        for d in deployments
    ]


def _posted_camera(value: str) -> CameraUnit | None:
    try:
        return CameraUnit.objects.get(pk=int(value))
    except (ValueError, CameraUnit.DoesNotExist):
        return None


@login_required
@require_GET
def session_list_view(request: HttpRequest) -> HttpResponse:
    require_role(request.user, *CONSOLE_ROLES, Role.ADMINISTRATOR, action=_("see matching sessions"))
    sessions = selectors.session_list(user=request.user)[:100]
    return render(
        request,
        "matching/session_list.html",
        {"sessions": sessions, "startable": _startable(request.user), "demo": _demo_context(request.user)},
    )


@login_required
@require_POST
def session_start_view(request: HttpRequest) -> HttpResponse:
    """Start a session; the service checks (and audits the refusal of) everything, the role first."""
    try:
        deployment = Deployment.objects.get(pk=int(request.POST.get("deployment", "0")))
    except (ValueError, Deployment.DoesNotExist) as exc:
        raise Http404 from exc
    camera = _posted_camera(request.POST.get("camera_unit", ""))
    try:
        session = session_services.session_start(actor=request.user, deployment=deployment, camera_unit=camera)
    except NotFound as exc:  # a deployment this operator may not see (the attempt is audited)
        raise Http404 from exc
    except NotPermitted:
        raise  # not an operator: the refused page, 403
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("session_list")
    messages.success(request, _("Session started on %(c)s.") % {"c": session.camera_unit.identifier})
    return redirect("session_console", pk=session.pk)


@login_required
@require_POST
def session_stop_view(request: HttpRequest, pk: int) -> HttpResponse:
    session = _session_or_404(request.user, pk)
    session_services.session_stop(actor=request.user, session=session, detail=request.POST.get("detail", ""))
    messages.success(request, _("Session stopped; its queued frames were purged."))
    return redirect("session_console", pk=pk)


def _console_context(request: HttpRequest, session: MatchingSession) -> dict[str, Any]:
    alerts, awaiting_hidden, decided_hidden = selectors.console_alert_list(user=request.user, session_id=session.pk)
    reviewer = has_role(request.user, *alert_services.REVIEWER_ROLES)
    equality_fields = (
        list(equality_field_list(user=request.user, active_only=True))
        if has_role(request.user, Role.ENGAGEMENT_OFFICER)
        else []
    )
    _attach_engagement_forms(request, alerts, equality_fields)
    return {
        "session": session,
        "alerts": alerts,
        "awaiting_hidden": awaiting_hidden,
        "decided_hidden": decided_hidden,
        "outcomes": Outcome.choices,
        "two_person": alert_services.two_person_required(),
        "is_operator": has_role(request.user, Role.LFR_OPERATOR),
        # Stop is offered to whoever the service lets stop it: an operator assigned to the deployment.
        "may_stop": session.is_live and session_services.may_stop(request.user, session),
        # The AO and the DPO stop matching by suspending or revoking the deployment: the console says so.
        "stop_by_suspending": session.is_live and has_role(request.user, Role.AUTHORISING_OFFICER, Role.DPO),
        "is_engagement": has_role(request.user, Role.ENGAGEMENT_OFFICER),
        # The adjudication services refuse a reviewer without current training (`training_expired`): not offered.
        "training_lapsed": reviewer and not request.user.has_current_training(),
        "equality_fields": equality_fields,
        "AlertStatus": AlertStatus,
        # Once the AO's review published the record, its alerts stay as published (alert_services).
        "record_published": session.deployment.status == DeploymentStatus.REVIEWED,
        "unreviewable": alert_services.unreviewable_alert_ids(alerts),
        "demo": _demo_context(request.user, session),
    }


def _posted_engagement(request: HttpRequest) -> dict[str, Any]:
    """The engagement form as the officer sent it: the choices, and the self-described values by field name."""
    return {
        **{name: request.POST.get(name, "") for name in ENGAGEMENT_CHOICES},
        "equality": {
            key.removeprefix(EQUALITY_PREFIX): value
            for key, value in request.POST.items()
            if key.startswith(EQUALITY_PREFIX)
        },
    }


def _keep_refused_engagement(request: HttpRequest, alert: Alert, posted: dict[str, Any], exc: ServiceError) -> None:
    """Keep a refused engagement for the console to show again: what was chosen, each reason by its field. Only
    values the form offers are kept (anything else could not be shown as chosen, and would only grow the session),
    and never the self-described values: special category data (ethnicity, religion …) has no place in a session
    row, even for minutes; the officer chooses them again, with the reason shown beside each field."""
    offered = {f.name for f in equality_field_list(user=request.user, active_only=True)}
    choices = {"located": {"yes", "no"}, "identity_confirmed": {"yes", "no"}, "outcome": set(Outcome.values)}
    details = exc.details if isinstance(exc.details, dict) else {}
    draft = {
        **{name: posted[name] if posted[name] in choices[name] else "" for name in ENGAGEMENT_CHOICES},
        "errors": {
            str(name): [str(m) for m in (found if isinstance(found, list | tuple) else [found])]
            for name, found in details.items()
            if (name in choices or name in offered) and not isinstance(found, dict)
        },
        "until": time.time() + ENGAGEMENT_KEPT_SECONDS,
    }
    request.session[ENGAGEMENT_DRAFTS] = {**request.session.get(ENGAGEMENT_DRAFTS, {}), str(alert.pk): draft}


def _forget_engagement(request: HttpRequest, alert_id: int) -> None:
    drafts = request.session.get(ENGAGEMENT_DRAFTS)
    if drafts and str(alert_id) in drafts:
        request.session[ENGAGEMENT_DRAFTS] = {k: v for k, v in drafts.items() if k != str(alert_id)}


def _attach_engagement_forms(request: HttpRequest, alerts: list[Alert], equality_fields: list[Any]) -> None:
    """Give each alert awaiting engagement its form's state (`alert.engagement`): the refused engagement kept for
    it, or an empty form. Kept engagements of alerts that no longer await one, or kept too long, are dropped."""
    drafts: dict[str, Any] = request.session.get(ENGAGEMENT_DRAFTS) or {}
    now = time.time()
    done = {str(a.pk) for a in alerts if a.status != AlertStatus.REFERRED}
    kept = {k: v for k, v in drafts.items() if k not in done and v.get("until", 0) > now}
    if len(kept) != len(drafts):
        request.session[ENGAGEMENT_DRAFTS] = kept
    for alert in alerts:
        if alert.status != AlertStatus.REFERRED:
            continue
        draft = kept.get(str(alert.pk), {})
        errors = draft.get("errors", {})
        alert.engagement = {
            **{name: draft.get(name, "") for name in ENGAGEMENT_CHOICES},
            "errors": {name: errors.get(name, []) for name in ENGAGEMENT_CHOICES},
            "equality": [{"field": f, "errors": errors.get(f.name, [])} for f in equality_fields],
        }


@login_required
@require_GET
def session_console_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The live console: session counters and alerts, refreshed every second by static/js/portal.js."""
    require_role(request.user, *CONSOLE_ROLES, action=_("use the live console"))
    session = _session_or_404(request.user, pk)
    return render(request, "matching/console.html", _console_context(request, session))


@login_required
@require_GET
def session_console_alerts_view(request: HttpRequest, pk: int) -> HttpResponse:
    require_role(request.user, *CONSOLE_ROLES, action=_("use the live console"))
    session = _session_or_404(request.user, pk)
    response = render(request, "matching/_console_alerts.html", _console_context(request, session))
    response["Cache-Control"] = "no-store"
    return response


def _image_response(data: bytes, content_type: str) -> HttpResponse:
    response = HttpResponse(data, content_type=content_type)
    # Biometric images: never cached by the browser or any proxy.
    response["Cache-Control"] = "no-store, private"
    return response


def _audited_once(
    request: HttpRequest, alert: Alert, image: str, audited: Callable[[], T], unaudited: Callable[[], T]
) -> T:
    """`audited()` (which writes the viewing's audit event) on a viewer's first sight of an image within
    VIEW_AUDIT_SECONDS, `unaudited()` while the console refreshes after it. The mark is taken back if the audited
    read fails, so an image is never served unaudited after a viewing whose audit event was not written."""
    key = f"lfr:viewed:{request.user.pk}:{alert.pk}:{image}"
    if not cache.add(key, 1, VIEW_AUDIT_SECONDS):
        return unaudited()
    try:
        return audited()
    except BaseException:
        cache.delete(key)
        raise


@login_required
@require_GET
def alert_probe_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The alert's probe crop, decrypted for someone allowed to see it; the viewing is audited."""
    alert = Alert.objects.select_related("deployment").filter(pk=pk).first()
    if alert is None or not alert_services.may_view_alerts(request.user, alert.deployment):
        raise Http404
    data = _audited_once(
        request,
        alert,
        "probe",
        lambda: alert_services.alert_probe_image(actor=request.user, alert=alert),
        lambda: alert_services.decrypt_probe(alert),
    )
    return _image_response(data, "image/jpeg")


@login_required
@require_GET
def alert_reference_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The watch-list image of the alert's entry, for comparison beside the probe; the viewing is audited."""
    alert = Alert.objects.select_related("deployment").filter(pk=pk).first()
    if alert is None or not alert_services.may_view_alerts(request.user, alert.deployment):
        raise Http404
    try:
        data, content_type = _audited_once(
            request,
            alert,
            "reference",
            lambda: alert_services.alert_reference_image(actor=request.user, alert=alert),
            lambda: alert_services.reference_image_unaudited(alert),
        )
    except NotFound as exc:
        raise Http404 from exc
    return _image_response(data, content_type)


@login_required
@require_POST
def alert_adjudicate_view(request: HttpRequest, pk: int) -> HttpResponse:
    alert = _alert_or_404(request.user, pk)
    action = request.POST.get("action", "")
    note = request.POST.get("note", "")
    posted = _posted_engagement(request) if action == "engagement" else {}
    try:
        if action == "dismiss":
            alert_services.alert_dismiss(actor=request.user, alert=alert, note=note)
        elif action == "refer":
            alert_services.alert_refer(actor=request.user, alert=alert, note=note)
        elif action == "engagement":
            # Only an explicit answer: a missing or odd value must not be recorded as "not located".
            located = {"yes": True, "no": False}.get(posted["located"])
            if located is None:
                raise RuleViolation(
                    _("The engagement record is incomplete."),
                    details={"located": [_("Record whether the person was located.")]},
                )
            alert_services.alert_record_engagement(
                actor=request.user,
                alert=alert,
                located=located,
                identity_confirmed={"yes": True, "no": False}.get(posted["identity_confirmed"]),
                outcome=posted["outcome"],
                note=note,
                self_described=posted["equality"],
            )
        else:
            raise Http404
    except ServiceError as exc:
        messages.error(request, _refusal_text(exc))
        if action == "engagement":
            # Back to the officer's form on the console, as they filled it in, each reason beside its field.
            _keep_refused_engagement(request, alert, posted, exc)
            return redirect(f"{reverse('session_console', args=[alert.session_id])}#alert-{alert.pk}")
    else:
        _forget_engagement(request, alert.pk)
        messages.success(request, _("Alert %(id)s recorded.") % {"id": alert.pk})
    return redirect("session_console", pk=alert.session_id)


@login_required
@require_GET
def operations_view(request: HttpRequest) -> HttpResponse:
    """Administrators and the DPO: workers and their queues, per live session queue depth, drops, latency."""
    require_role(request.user, Role.ADMINISTRATOR, Role.DPO, action=_("see the operations page"))
    overview = selectors.operations_overview(user=request.user)
    return render(
        request,
        "matching/operations.html",
        {**overview, "broker": settings.CELERY_BROKER_URL.split("://")[0], "budget": settings.LFR_LIVE_BUDGET_SECONDS},
    )


def _refusal_text(exc: ServiceError) -> str:
    """The refusal with every reason it gives (`details`: field -> messages), for a page that redirects: "The
    engagement record is incomplete." alone does not say what is missing."""
    details = exc.details if isinstance(exc.details, dict) else {}
    reasons = [str(m) for found in details.values() for m in (found if isinstance(found, list | tuple) else [found])]
    return " ".join([exc.message, *reasons])


def _demo_context(user: Any, session: MatchingSession | None = None) -> dict[str, Any]:
    try:
        from matching import demo
    except ImportError:  # pragma: no cover
        return {}
    return demo.console_context(user, session)
