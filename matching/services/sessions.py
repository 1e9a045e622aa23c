"""Starting and stopping live matching sessions (domain.md 2.3, 4).

A session starts only when every gate passes for the operator starting it; a refusal names the failed gate and
is audited. A camera unit is live in at most one session at a time, whatever the deployment: it is in one place,
and each deployment is authorised and signed for its own (domain.md 2.1, gate 4). Sessions stop by hand (an
assigned operator), at the window's end, and as soon as any gate fails (deployment suspended, revoked or
completed, watch-list un-approved, signage removed...). Stopping purges the session's in-flight frames from the
frame store, so queued tasks find nothing to match.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from compliance import audit
from compliance.choices import DeploymentStatus, Role
from compliance.gates import GateReport, deployment_gates
from compliance.models import CameraUnit, Deployment, User
from compliance.permissions import has_role, require_role
from compliance.selectors.deployments import deployment_list, deployment_visible
from lfr_portal.errors import InvalidTransition, NotFound, NotPermitted, RuleViolation, ServiceError
from matching import framestore
from matching.models import MatchingSession
from matching.models.sessions import SessionStatus, StopReason

logger = logging.getLogger(__name__)

# The actor recorded for stops the system makes (beat, worker, deployment hooks): never the request's user.
SYSTEM: Any = AnonymousUser()

# The one table of allowed transitions: action -> (states it applies to, resulting state).
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "stop": (frozenset({SessionStatus.LIVE}), SessionStatus.STOPPED),
}


class GateRefused(ServiceError):
    """A session may not start (or continue): `details` holds every gate with its verdict."""

    status_code = 409
    default_code = "gate_failed"


def gate_refusal_message(report: GateReport) -> str:
    failed = report.first_failure
    if failed is None:
        return ""
    return _("Refused by the gate “%(label)s”: %(reason)s") % {"label": failed.label, "reason": failed.reason}


def counters(session: MatchingSession) -> dict[str, Any]:
    """The session's counters as audit-safe figures (no content)."""
    return {
        "frames_accepted": session.frames_accepted,
        "frames_refused": session.frames_refused,
        "frames_processed": session.frames_processed,
        "faces_seen": session.faces_seen,
        "alerts_raised": session.alerts_raised,
        "sightings": session.sightings,
        "dropped_stale": session.dropped_stale,
        "dropped_purged": session.dropped_purged,
        "dropped_gates": session.dropped_gates,
        "dropped_undecodable": session.dropped_undecodable,
    }


def _is_assigned(user: Any, deployment: Deployment) -> bool:
    return deployment.assigned_officers.filter(pk=user.pk).exists()


def _refused(
    *,
    actor: Any,
    deployment: Deployment,
    camera_unit: CameraUnit | None,
    refusal: ServiceError,
    report: GateReport | None = None,
    gates: bool = True,
    reason: str = "",
    failed_gate: str | None = None,
    extra: dict[str, Any] | None = None,
) -> ServiceError:
    """Audit a refused start (domain.md 2.3) and return the refusal to raise. In its own transaction: the refusal
    is the only record, and it must outlive the rollback of whatever the start had begun."""
    after: dict[str, Any] = {
        "camera_unit": camera_unit.identifier if camera_unit else None,
        "code": refusal.code,
        "reason": reason or refusal.message,
        **(extra or {}),
    }
    if gates:
        after["failed_gate"] = report.first_failure.name if report and report.first_failure else failed_gate
        after["gates"] = report.as_dict()["gates"] if report else None
    audit.record_now("session.refused", actor=actor, target=deployment, deployment_id=deployment.pk, after=after)
    return refusal


@dataclass(frozen=True)
class CameraLive:
    """Why a camera unit cannot start for a deployment: it is live in `session` (maybe for another deployment)."""

    session: MatchingSession
    message: str  # for the operator: names the other deployment only if they may see it
    reason: str  # for the audit event of the refused start, which everyone who sees the deployment reads

    def refusal(self) -> InvalidTransition:
        return InvalidTransition(self.message, code="session_already_live")

    def audited(self) -> dict[str, Any]:
        """What the DPO's whole audit event keeps beyond `reason`: which session holds the unit (ids only)."""
        return {"live_session": self.session.pk, "live_deployment_id": self.session.deployment_id}


def cameras_live(*, actor: Any, wanted: list[tuple[Deployment, list[CameraUnit]]]) -> dict[tuple[int, int], CameraLive]:
    """Which of the camera units wanted for each deployment are already live in a session, keyed by (deployment
    id, camera unit id), with why a start there is refused; two queries whatever the number of deployments.

    The other deployment's reference and session are named only to someone who may see that deployment
    (`deployment_visible`); anyone else learns only that the unit is live for another deployment."""
    camera_ids = {c.pk for _deployment, cameras in wanted for c in cameras}
    live = {
        s.camera_unit_id: s
        for s in MatchingSession.objects.filter(camera_unit__in=camera_ids, status=SessionStatus.LIVE).select_related(
            "deployment", "camera_unit"
        )
    }
    if not live:
        return {}
    deployments = {s.deployment_id for s in live.values()}
    visible = set(deployment_list(user=actor).filter(pk__in=deployments).values_list("pk", flat=True))
    found = {}
    for deployment, cameras in wanted:
        for camera in cameras:
            session = live.get(camera.pk)
            if session is not None:
                found[(deployment.pk, camera.pk)] = _camera_live(session, deployment, visible)
    return found


def _camera_live(session: MatchingSession, deployment: Deployment, visible: set[int]) -> CameraLive:
    names = {"c": session.camera_unit.identifier, "s": session.pk, "ref": session.deployment.reference}
    if session.deployment_id == deployment.pk:
        message = _(
            "Camera %(c)s is already live for this deployment (session #%(s)s): open that session, or choose "
            "another camera unit."
        )
        return CameraLive(session=session, message=message % names, reason=message % names)
    elsewhere = _(
        "Camera %(c)s is already live for another deployment, and a camera unit matches for one deployment, in one "
        "place, at a time: ask that deployment’s operators to stop it, or choose another camera unit."
    )
    named = _(
        "Camera %(c)s is already live for deployment %(ref)s (session #%(s)s), and a camera unit matches for one "
        "deployment, in one place, at a time: stop that session first, or choose another camera unit."
    )
    # The audit reason is shown on this deployment's timeline, to everyone who sees it: never the other's name.
    message = named if session.deployment_id in visible else elsewhere
    return CameraLive(session=session, message=message % names, reason=elsewhere % names)


def _camera_live_in(actor: Any, deployment: Deployment, camera_unit: CameraUnit) -> CameraLive | None:
    """The unit's live session (any deployment) with why a start is refused, or None when it is free."""
    return cameras_live(actor=actor, wanted=[(deployment, [camera_unit])]).get((deployment.pk, camera_unit.pk))


def session_start(*, actor: User, deployment: Deployment, camera_unit: CameraUnit | None) -> MatchingSession:
    """Start matching for one camera unit of a deployment (LFR Operator), only when all six gates pass.

    Every refusal is audited (`session.refused`, naming the reason). A deployment the operator may not see (not
    assigned, not yet authorised) is answered as not found, with no gate report: the report would tell them what
    its page refuses to."""
    try:
        require_role(actor, Role.LFR_OPERATOR, action=_("start matching sessions"))
    except NotPermitted as exc:
        # The role says nothing about the deployment, so neither does the record: no gate report.
        raise _refused(actor=actor, deployment=deployment, camera_unit=camera_unit, refusal=exc, gates=False) from None
    now = timezone.now()
    refusal: ServiceError | None = None
    report: GateReport | None = None
    if not deployment_visible(user=actor, deployment=deployment):
        raise _refused(  # as for one that does not exist
            actor=actor,
            deployment=deployment,
            camera_unit=camera_unit,
            refusal=NotFound(_("No such deployment or camera unit."), code="not_found"),
            gates=False,
            reason="deployment not visible",
        )
    if camera_unit is None:  # a form sent without a valid choice
        refusal = RuleViolation(
            _("Choose one of the deployment’s active camera units."),
            code="camera_required",
            details={"camera_unit": [_("Choose one of the deployment’s active camera units.")]},
        )
    elif not deployment.camera_units.filter(pk=camera_unit.pk).exists():
        refusal = RuleViolation(
            _("Camera %(c)s is not one of the deployment's authorised camera units.") % {"c": camera_unit.identifier},
            code="camera_not_authorised",
        )
    elif not camera_unit.active:
        refusal = RuleViolation(
            _("Camera %(c)s is not active.") % {"c": camera_unit.identifier}, code="camera_inactive"
        )
    elif busy := _camera_live_in(actor, deployment, camera_unit):
        raise _refused(
            actor=actor,
            deployment=deployment,
            camera_unit=camera_unit,
            refusal=busy.refusal(),
            reason=busy.reason,
            extra=busy.audited(),
        )
    else:
        report = deployment_gates(deployment, at=now, operator=actor)
        if not report.passed:
            refusal = GateRefused(gate_refusal_message(report), details=report.as_dict())
    if refusal is not None:
        raise _refused(actor=actor, deployment=deployment, camera_unit=camera_unit, refusal=refusal, report=report)
    assert report is not None and camera_unit is not None
    try:
        with transaction.atomic():
            # Serialise with suspension and revocation, which lock the same row: either we see their new
            # status here, or their stop hook (run after they commit) sees our live session.
            locked = Deployment.objects.select_for_update().get(pk=deployment.pk)
            if locked.status != DeploymentStatus.AUTHORISED:
                raise InvalidTransition(
                    _("The deployment is %(s)s, not authorised.") % {"s": locked.get_status_display()},
                    code="deployment_not_authorised",
                )
            # Serialise with taking the unit out of use, which locks its row and stops its live sessions: either
            # we see it inactive here, or its stop sees our session.
            if not CameraUnit.objects.select_for_update().filter(pk=camera_unit.pk, active=True).exists():
                raise InvalidTransition(
                    _("Camera %(c)s is not active.") % {"c": camera_unit.identifier}, code="camera_inactive"
                )
            session = MatchingSession.objects.create(
                deployment=locked, camera_unit=camera_unit, started_by=actor, started_at=now
            )
            audit.record(
                "session.started",
                actor=actor,
                target=session,
                deployment_id=locked.pk,
                after={"camera_unit": camera_unit.identifier, "gates": report.as_dict()["gates"]},
            )
    except InvalidTransition as exc:
        # The authorisation gate failed after it was checked (suspended or revoked meanwhile), or the unit was
        # taken out of use: audited once the start has rolled back.
        raise _refused(
            actor=actor,
            deployment=deployment,
            camera_unit=camera_unit,
            refusal=exc,
            report=report,
            failed_gate="authorisation" if exc.code == "deployment_not_authorised" else None,
        ) from None
    except IntegrityError as exc:
        # Another start took the unit between the check above and this insert: the constraint (one live session
        # per camera unit) refused ours, which has rolled back. The refusal names the session that won.
        won = _camera_live_in(actor, deployment, camera_unit)
        if won is None:  # and it has stopped again since
            message = _(
                "Camera %(c)s was started in another session at the same moment: a camera unit matches for one "
                "deployment at a time. Try again, or choose another camera unit."
            ) % {"c": camera_unit.identifier}
            refusal, reason, extra = InvalidTransition(message, code="session_already_live"), message, {}
        else:
            refusal, reason, extra = won.refusal(), won.reason, won.audited()
        raise _refused(
            actor=actor,
            deployment=deployment,
            camera_unit=camera_unit,
            refusal=refusal,
            report=report,
            reason=reason,
            extra=extra,
        ) from exc
    return session


def _require_may_stop(actor: Any, session: MatchingSession) -> None:
    """A session is stopped by hand by an LFR Operator assigned to its deployment (domain.md 1: operators start
    and stop sessions); an AO or the DPO stops matching by suspending or revoking the deployment, with a reason
    (2.2). Current training is not asked for: an operator whose training lapsed can still stop matching."""
    if actor is SYSTEM:
        return
    if has_role(actor, Role.AUTHORISING_OFFICER, Role.DPO):
        raise NotPermitted(
            _(
                "A session is stopped by hand by the deployment’s assigned LFR Operators. To stop matching "
                "yourself, suspend or revoke the deployment from its page, with a reason: every live session of "
                "the deployment stops at once."
            ),
            code="wrong_role",
        )
    require_role(actor, Role.LFR_OPERATOR, action=_("stop matching sessions"))
    if not _is_assigned(actor, session.deployment):
        raise NotPermitted(_("You are not assigned to this deployment."), code="not_assigned")


def may_stop(actor: Any, session: MatchingSession) -> bool:
    """Whether `session_stop` would let the actor stop this session (its state aside): what pages offer."""
    try:
        _require_may_stop(actor, session)
    except NotPermitted:
        return False
    return True


def purge_frames(session_id: int) -> int:
    """Drop every in-flight frame of a session from the frame store and count them as purged.

    A purge that deleted frames, left any behind or failed is audited (`session.frames_purged` with the count
    and what the store still holds for the session, or `session.frames_purge_failed`): a deletion of biometric
    data is verified and recorded (domain.md 6)."""
    store = framestore.get_store()
    try:
        dropped = store.purge(session_id)
        left = store.depth(session_id)
    except Exception as exc:  # noqa: BLE001 - the stop stands; the TTL and the sweep remove what the purge missed
        logger.exception("Could not purge the frames of session %s", session_id)
        audit.record_now(
            "session.frames_purge_failed", **_session_target(session_id), after={"error": type(exc).__name__}
        )
        return 0
    if dropped or left:
        with transaction.atomic():
            MatchingSession.objects.filter(pk=session_id).update(dropped_purged=F("dropped_purged") + dropped)
            audit.record(
                "session.frames_purged", **_session_target(session_id), after={"frames": dropped, "left": left}
            )
    return dropped


def _session_target(session_id: int) -> dict[str, Any]:
    """A session as an audit target, by id (it may be gone from the store, never from the database)."""
    deployment_id = MatchingSession.objects.filter(pk=session_id).values_list("deployment_id", flat=True).first()
    return {"target_type": "matching.matchingsession", "target_id": session_id, "deployment_id": deployment_id}


def session_stop(
    *, actor: Any, session: MatchingSession, reason: str = StopReason.OPERATOR, detail: str = ""
) -> MatchingSession:
    """Stop a live session (an assigned operator by hand; SYSTEM automatically)."""
    _require_may_stop(actor, session)
    allowed, target = TRANSITIONS["stop"]
    with transaction.atomic():
        now = timezone.now()
        updated = MatchingSession.objects.filter(pk=session.pk, status__in=allowed).update(
            status=target,
            stopped_at=now,
            stopped_by=actor if isinstance(actor, User) else None,
            stop_reason=reason,
            stop_detail=detail[:2000],
        )
        if not updated:
            raise InvalidTransition(_("The session has already stopped."), code="session_not_live")
        stopped = MatchingSession.objects.select_related("camera_unit").get(pk=session.pk)
        audit.record(
            "session.stopped",
            actor=actor,
            target=stopped,
            deployment_id=stopped.deployment_id,
            before={"status": SessionStatus.LIVE},
            after={
                "status": stopped.status,
                "reason": reason,
                "detail": detail,
                "camera_unit": stopped.camera_unit.identifier,
                "duration_seconds": int((now - stopped.started_at).total_seconds()),
                **counters(stopped),
            },
        )
        session_id = stopped.pk
        transaction.on_commit(lambda: purge_frames(session_id))
    return stopped


def session_stop_by_system(session_id: int, reason: str, detail: str = "") -> bool:
    """Stop a session for the system if it is still live; False when someone got there first."""
    try:
        session = MatchingSession.objects.select_related("deployment").get(pk=session_id)
        session_stop(actor=SYSTEM, session=session, reason=reason, detail=detail)
    except (InvalidTransition, MatchingSession.DoesNotExist):
        return False
    return True


def stop_reason_for_status(status: str) -> str:
    """Why a session whose deployment is not authorised any more stops: `deployment_stopped`.

    Every way out of `authorised` (suspension, revocation, cancellation, completion, a voided authorisation) is a
    transition whose stop hook stops the deployment's sessions right after it commits. A camera's upload, a worker
    or the beat check may see the new status first; the reason is the same whichever stops the session.
    """
    return StopReason.DEPLOYMENT_STOPPED if status != DeploymentStatus.AUTHORISED else StopReason.GATE_FAILED


def stop_reason_for(report: GateReport) -> tuple[str, str]:
    failed = report.first_failure
    if failed is None:
        return "", ""
    if failed.name == "window":
        reason = StopReason.WINDOW_ENDED
    elif failed.name == "authorisation" and report.deployment is not None:
        reason = stop_reason_for_status(report.deployment.status)
    else:
        reason = StopReason.GATE_FAILED
    return reason, f"{failed.name}: {failed.reason}"


def deployment_has_sessions(deployment_id: int) -> bool:
    """Deployment registry (`deployment_used`): whether any matching session ever started under the deployment."""
    return MatchingSession.objects.filter(deployment_id=deployment_id).exists()


def sessions_stop_for_deployment(deployment_id: int, reason: str) -> list[int]:
    """Deployment hook: stop every live session of a suspended, revoked, cancelled or completed deployment."""
    stopped = []
    for session_id in MatchingSession.objects.filter(
        deployment_id=deployment_id, status=SessionStatus.LIVE
    ).values_list("pk", flat=True):
        if session_stop_by_system(session_id, StopReason.DEPLOYMENT_STOPPED, f"deployment {reason}"):
            stopped.append(session_id)
    return stopped


def sessions_enforce_gates(*, at: datetime.datetime | None = None) -> list[int]:
    """Beat: stop every live session whose window has ended or whose gates no longer pass."""
    at = at or timezone.now()
    reports: dict[tuple[int, int], GateReport] = {}
    stopped = []
    for session in MatchingSession.objects.filter(status=SessionStatus.LIVE).select_related("started_by"):
        key = (session.deployment_id, session.started_by_id)
        if key not in reports:
            reports[key] = deployment_gates(session.deployment_id, at=at, operator=session.started_by)
        report = reports[key]
        if not report.passed:
            reason, detail = stop_reason_for(report)
            if session_stop_by_system(session.pk, reason, detail):
                stopped.append(session.pk)
    return stopped


def frame_store_sweep() -> int:
    """Beat: purge anything the frame store still holds for sessions that are not live (crash leftovers)."""
    store = framestore.get_store()
    held = store.session_ids()
    if not held:
        return 0
    live = set(MatchingSession.objects.filter(pk__in=held, status=SessionStatus.LIVE).values_list("pk", flat=True))
    dropped = 0
    for session_id in held - live:
        dropped += purge_frames(session_id)
    expire = getattr(store, "expire_older_than", None)
    if expire is not None:
        # tmpfs has no TTL: frames nobody took within a generous multiple of the live budget are stale anyway.
        dropped += expire(framestore.ttl_seconds())
    return dropped
