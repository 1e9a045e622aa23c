"""Alerts and their human adjudication (domain.md 5): an alert is a prompt, never a decision.

The LFR Operator makes the first review (false alert, or referred for engagement; with two-person verification
two distinct verifiers are needed before referral); the Engagement Officer records whether the person was
located, whether their identity was confirmed and the outcome. Every step is audited, and the published
figures (compliance.transparency) are computed from these records by `deployment_statistics`.
"""

from __future__ import annotations

import datetime
import hashlib
import io
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from PIL import Image

from compliance import audit
from compliance.choices import Role
from compliance.crypto import decrypt_bytes, encrypt_bytes
from compliance.models import AuditEvent, Deployment, User
from compliance.permissions import has_role, require_role
from compliance.services.retention import active_hold, equality_record_for_alert
from compliance.transparency import is_published
from lfr_portal.errors import InvalidTransition, NotFound, NotPermitted, RuleViolation
from matching import engine, gallery
from matching.models import Adjudication, Alert, MatchingSession
from matching.models.sessions import AdjudicationDecision, AlertStatus, Outcome

A = AlertStatus

# The one table of allowed transitions: action -> (states it applies to, resulting state).
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "dismiss": (frozenset({A.NEW, A.VERIFYING}), A.DISMISSED),
    "verify": (frozenset({A.NEW}), A.VERIFYING),
    "refer": (frozenset({A.NEW, A.VERIFYING}), A.REFERRED),
    "not_located": (frozenset({A.REFERRED}), A.NOT_LOCATED),
    "engaged": (frozenset({A.REFERRED}), A.ENGAGED),
}
REVIEWER_ROLES = (Role.LFR_OPERATOR, Role.ENGAGEMENT_OFFICER)
PROBE_JPEG_QUALITY = 90
PROBE_TARGET_TYPE = "matching.alert"  # as compliance.retention_handlers names alerts for holds
IMAGE_VIEWED = "alert.image_viewed"


def two_person_required() -> bool:
    """Two-person verification (EU AI Act Art. 14(5)): a setting, always on in the EU jurisdiction pack."""
    return bool(getattr(settings, "LFR_TWO_PERSON_VERIFICATION", False)) or settings.LFR_JURISDICTION == "eu"


def repeat_interval() -> datetime.timedelta:
    return datetime.timedelta(seconds=float(settings.LFR_ALERT_REPEAT_SECONDS))


def _recent(
    session: MatchingSession, entry_ids: list[int], captured_at: datetime.datetime, interval: datetime.timedelta
) -> Any:
    """Alerts of these entries in the session that may take a sighting at `captured_at`, locked."""
    return Alert.objects.select_for_update().filter(
        session=session,
        entry_id__in=entry_ids,
        status=A.NEW,
        probe_destroyed_at__isnull=True,
        last_seen_at__gte=captured_at - interval,
    )


def alerts_lock_recent(*, session: MatchingSession, entry_ids: list[int], captured_at: datetime.datetime) -> None:
    """Before a frame's first alert is written: lock every recent alert its faces may add a sighting to, in id
    order. The first alert's audit event holds the audit chain until the frame commits; had the worker waited for
    a second alert that an adjudication held (waiting in turn for the chain), neither could go on."""
    interval = repeat_interval()
    if interval > datetime.timedelta(0) and len(entry_ids) > 1:
        list(_recent(session, entry_ids, captured_at, interval).order_by("pk").values_list("pk", flat=True))


def _jpeg(pixels: Any) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, "JPEG", quality=PROBE_JPEG_QUALITY)
    return buffer.getvalue()


def _alert_payload(alert: Alert) -> dict[str, Any]:
    return {
        "session_id": alert.session_id,
        "camera_unit_id": alert.camera_unit_id,
        "entry_id": alert.entry_id,
        "watchlist_id": alert.watchlist_id,
        "distance": round(alert.distance, 4),
        "threshold": alert.threshold,
        "policy": alert.policy,
        "margin": alert.margin,
        "captured_at": alert.captured_at,
        "sighting_count": alert.sighting_count,
        "probe_sha256": alert.probe_sha256,
        "status": alert.status,
    }


def alert_record_sighting(
    *,
    session: MatchingSession,
    frame_id: str,
    captured_at: datetime.datetime,
    face: engine.FrameAlert,
    image: Any,
    policy: engine.AlertPolicy,
    watchlist: Any,
    same_person: list[int],
    others: tuple[engine.FaceBox, ...] = (),
) -> tuple[Alert, bool]:
    """Raise an alert for a matched face, or add the sighting to this session's recent alert for the same person
    (the same entry, or another photo of them on the watch-list: `same_person`, the ids of their entries).

    Must run inside the worker's transaction (the caller locks the session). The probe crop is encrypted before
    it reaches the database; only its sha256 goes to the audit log. Any other face of the frame (`others`) that
    reaches into the crop is pixelated first: the crop is kept for weeks, and only of the person matched.
    Returns (alert, created).
    """
    entry_id = int(face.entry_id)
    runner_up = face.runner_up if face.runner_up != float("inf") else None
    # Only an alert still awaiting its first review, with its crop, takes further sightings: once someone has
    # decided on it, or its crop was destroyed, a new sighting is a new alert. A crop someone has viewed is kept
    # as seen (below), so the decision is on the face the reviewer looked at.
    # With no repeat interval every sighting is its own alert, so there is nothing to look up.
    interval = repeat_interval()
    recent = None
    if interval > datetime.timedelta(0):
        recent = _recent(session, same_person, captured_at, interval).order_by("-last_seen_at").first()
    if recent is not None:
        recent.sighting_count += 1
        recent.last_seen_at = max(recent.last_seen_at, captured_at)
        fields = ["sighting_count", "last_seen_at", "updated_at"]
        sighting = {
            "frame_id": frame_id,
            "entry_id": entry_id,
            "distance": round(face.distance, 4),
            "sighting_count": recent.sighting_count,
        }
        if face.distance < recent.distance and recent.entry_id == entry_id and not _probe_viewed(recent):
            # Keep the best likeness for the reviewer; the crop it replaces is overwritten, not kept. Only a
            # likeness to the alert's own entry: the reviewer compares the crop with that entry's photo. Never
            # once someone has viewed the crop: what they saw stays what is judged (checked last: one query,
            # and only when a crop would otherwise be replaced).
            crop = _jpeg(engine.crop_face(image, face.box, hide=others))
            digest = hashlib.sha256(crop).hexdigest()
            before = recent.probe_sha256
            recent.distance, recent.runner_up = face.distance, runner_up
            recent.probe_crop, recent.probe_sha256 = encrypt_bytes(crop), digest
            fields += ["distance", "runner_up", "probe_crop", "probe_sha256"]
            audit.record(
                "alert.probe_replaced",
                actor=_system(),
                target=recent,
                deployment_id=recent.deployment_id,
                before={"probe_sha256": before},
                after={**sighting, "probe_sha256": digest},
            )
        else:
            audit.record(
                "alert.sighted", actor=_system(), target=recent, deployment_id=recent.deployment_id, after=sighting
            )
        recent.save(update_fields=fields)
        return recent, False
    crop = _jpeg(engine.crop_face(image, face.box, hide=others))
    digest = hashlib.sha256(crop).hexdigest()
    alert = Alert.objects.create(
        session=session,
        deployment_id=session.deployment_id,
        camera_unit_id=session.camera_unit_id,
        entry_id=entry_id,
        watchlist_id=getattr(watchlist, "watchlist_id", None),
        watchlist_hash=getattr(watchlist, "content_hash", "") or "",
        distance=face.distance,
        runner_up=runner_up,
        threshold=policy.threshold,
        policy=policy.kind,
        margin=policy.margin,
        captured_at=captured_at,
        last_seen_at=captured_at,
        probe_crop=encrypt_bytes(crop),
        probe_sha256=digest,
        source_frame_id=frame_id,
    )
    audit.record(
        "alert.raised",
        actor=_system(),
        target=alert,
        deployment_id=alert.deployment_id,
        after={**_alert_payload(alert), "frame_id": frame_id},
    )
    return alert, True


def _system() -> Any:
    from matching.services.sessions import SYSTEM

    return SYSTEM


def _probe_viewed(alert: Alert) -> bool:
    """Whether anyone has viewed the alert's probe crop: every viewing is audited (`alert_probe_image`), and it
    writes its event holding the alert's row lock, which the sighting holds here."""
    target_type, target_id = audit.target_of(alert)
    return AuditEvent.objects.filter(
        target_id=target_id, target_type=target_type, action=IMAGE_VIEWED, after__image="probe"
    ).exists()


# ----------------------------------------------------------------------------------------------------------------
# Adjudication


def _locked(alert: Alert) -> Alert:
    return Alert.objects.select_for_update().select_related("deployment").get(pk=alert.pk)


def _require_assigned(actor: User, alert: Alert, *roles: str, action: str) -> None:
    require_role(actor, *roles, action=action)
    if not alert.deployment.assigned_officers.filter(pk=actor.pk).exists():
        raise NotPermitted(_("You are not assigned to this deployment."), code="not_assigned")
    # Operators and engagement officers must hold current LFR training to act on an alert (domain.md 1).
    if not actor.has_current_training():
        raise NotPermitted(_("You do not hold current LFR training."), code="training_expired")
    # The published record's figures come from the alerts (domain.md 2.5): once reviewed, they stay as published
    # (a completed deployment, or a revoked one that ran).
    if is_published(alert.deployment):
        raise RuleViolation(
            _("The deployment has been reviewed and its record published: its alerts can no longer change."),
            code="record_published",
        )


def _require_images(alert: Alert) -> None:
    """A reviewer compares the face the camera saw with the watch-list image: without both, only the score is
    left, and nobody acts on a score alone (domain.md 1). The crop goes under the retention rules, the watch-list
    image with the watch-list."""
    if alert.probe_destroyed_at is not None:
        raise RuleViolation(
            _("The camera's image of this alert was destroyed under the retention rules: it cannot be reviewed now."),
            code="probe_destroyed",
        )
    if not gallery.entries_present([alert.entry_id]):
        raise RuleViolation(
            _(
                "The watch-list image of this alert is no longer held (its entry was removed or the watch-list "
                "destroyed): it cannot be reviewed now."
            ),
            code="reference_destroyed",
        )


def unreviewable_alert_ids(alerts: list[Alert]) -> set[int]:
    """Of `alerts`, those no one can review any more: a crop or a watch-list image is gone (`_require_images`)."""
    present = gallery.entries_present(a.entry_id for a in alerts)
    return {a.pk for a in alerts if a.probe_destroyed_at is not None or a.entry_id not in present}


def _cas(alert: Alert, action: str, **updates: Any) -> None:
    allowed, target = TRANSITIONS[action]
    if not Alert.objects.filter(pk=alert.pk, status__in=allowed).update(
        status=target, updated_at=timezone.now(), **updates
    ):
        raise InvalidTransition(
            _("The alert is already “%(s)s”; someone may have reviewed it first.") % {"s": alert.get_status_display()},
            code="alert_already_reviewed",
        )


def _require_state(alert: Alert, action: str) -> None:
    if alert.status not in TRANSITIONS[action][0]:
        raise InvalidTransition(
            _("An alert that is “%(s)s” cannot be changed that way.") % {"s": alert.get_status_display()},
            code="invalid_alert_transition",
        )


def _adjudicate(alert: Alert, actor: User, decision: str, *, action: str, note: str = "", **fields: Any) -> Alert:
    before = {"status": alert.status}
    now = timezone.now()
    Adjudication.objects.create(
        alert=alert,
        decided_by=actor,
        role=actor.role,
        decision=decision,
        note=note.strip(),
        decided_at=now,
        identity_confirmed=fields.get("identity_confirmed"),
        outcome=fields.get("outcome", ""),
    )
    alert.refresh_from_db()
    audit.record(
        f"alert.{action}",
        actor=actor,
        target=alert,
        deployment_id=alert.deployment_id,
        before=before,
        after={
            "status": alert.status,
            "decision": decision,
            "note": note.strip(),
            "first_verifier": alert.first_verifier_id,
            "second_verifier": alert.second_verifier_id,
            "located": alert.located,
            "identity_confirmed": alert.identity_confirmed,
            "outcome": alert.outcome,
            # The crop judged: a later sighting never replaces one that was viewed (alert_record_sighting).
            "probe_sha256": alert.probe_sha256,
        },
    )
    return alert


def alert_dismiss(*, actor: User, alert: Alert, note: str = "") -> Alert:
    """Operator's first review: a false alert, dismissed without engagement (an assigned operator or verifier)."""
    with transaction.atomic():
        locked = _locked(alert)
        roles = (Role.LFR_OPERATOR,) if locked.status == A.NEW else REVIEWER_ROLES
        _require_assigned(actor, locked, *roles, action=_("dismiss alerts"))
        _require_images(locked)
        _require_state(locked, "dismiss")
        _cas(locked, "dismiss")
        return _adjudicate(locked, actor, AdjudicationDecision.FALSE_ALERT, action="dismissed", note=note)


def alert_refer(*, actor: User, alert: Alert, note: str = "") -> Alert:
    """Refer for engagement. With two-person verification the first verifier only records a verification;
    a second, different person (operator or engagement officer) then refers it. Both are recorded."""
    with transaction.atomic():
        locked = _locked(alert)
        now = timezone.now()
        if locked.status == A.NEW:
            _require_assigned(actor, locked, Role.LFR_OPERATOR, action=_("review alerts"))
            _require_images(locked)
            if two_person_required():
                _cas(locked, "verify", first_verifier=actor)
                return _adjudicate(locked, actor, AdjudicationDecision.VERIFIED, action="verified", note=note)
            _cas(locked, "refer", first_verifier=actor, referred_at=now)
            return _adjudicate(locked, actor, AdjudicationDecision.REFERRED, action="referred", note=note)
        _require_assigned(actor, locked, *REVIEWER_ROLES, action=_("verify alerts"))
        _require_images(locked)
        _require_state(locked, "refer")
        if locked.first_verifier_id == actor.pk:
            raise NotPermitted(
                _("Two-person verification: a second, different person must verify this alert."),
                code="same_verifier",
            )
        _cas(locked, "refer", second_verifier=actor, referred_at=now)
        return _adjudicate(locked, actor, AdjudicationDecision.REFERRED, action="referred", note=note)


def alert_record_engagement(
    *,
    actor: User,
    alert: Alert,
    located: bool,
    identity_confirmed: bool | None = None,
    outcome: str = "",
    note: str = "",
    self_described: dict[str, str] | None = None,
) -> Alert:
    """Engagement Officer: located or not; if located, whether the identity was confirmed and the outcome. A person
    not located has neither: any identity answer (confirmed or not) or an outcome given with located=False is
    refused, not dropped.

    `self_described` holds optional equality-monitoring values as the person described themselves (Bridges
    ground 5); they are recorded in the same transaction, and refused for a person who was not located.
    """
    described = {name: value for name, value in (self_described or {}).items() if value not in (None, "")}
    with transaction.atomic():
        locked = _locked(alert)
        _require_assigned(actor, locked, Role.ENGAGEMENT_OFFICER, action=_("record engagements"))
        if not located:
            # Nobody was found, so nobody was identified or dealt with: storing "not located" would drop a confirmed
            # identity or an arrest from the published counts (domain.md 5) without anyone being told.
            unfounded: dict[str, list[str]] = {}
            # Either answer is refused: "not the person sought" is a finding about someone who was found, and would
            # otherwise be dropped, leaving a false alert published as a true one.
            if identity_confirmed is not None:
                unfounded["identity_confirmed"] = [
                    _("Only a person who was located can have their identity checked; leave it not checked.")
                ]
            if outcome:
                unfounded["outcome"] = [_("Only a person who was located can have an outcome recorded.")]
            if unfounded:
                raise RuleViolation(
                    _(
                        "The person was not located, so no identity check or outcome can be recorded: record "
                        "that they were located, or leave the identity and outcome empty."
                    ),
                    details=unfounded,
                )
            if described:
                # Nobody was there to describe themselves: any value would be a guess, and these are never guessed.
                raise RuleViolation(
                    _("A person who was not located cannot describe themselves; leave the monitoring fields empty."),
                    details={name: [_("Only as self-described by the person.")] for name in described},
                )
            _require_state(locked, "not_located")
            _cas(locked, "not_located", located=False, engagement_officer=actor)
            return _adjudicate(locked, actor, AdjudicationDecision.NOT_LOCATED, action="not_located", note=note)
        errors: dict[str, list[str]] = {}
        if identity_confirmed is None:
            errors["identity_confirmed"] = [_("Record whether the identity was confirmed.")]
        if outcome not in Outcome.values:
            errors["outcome"] = [_("Choose the outcome: arrest, other action or no action.")]
        if errors:
            raise RuleViolation(_("The engagement record is incomplete."), details=errors)
        _require_state(locked, "engaged")
        _cas(
            locked,
            "engaged",
            located=True,
            identity_confirmed=identity_confirmed,
            outcome=outcome,
            engagement_officer=actor,
        )
        engaged = _adjudicate(
            locked,
            actor,
            AdjudicationDecision.ENGAGED,
            action="engaged",
            note=note,
            identity_confirmed=identity_confirmed,
            outcome=outcome,
        )
        if described:
            equality_record_for_alert(actor=actor, alert=engaged, values=described)
        return engaged


def may_view_alerts(user: Any, deployment: Deployment) -> bool:
    """AO and DPO see every alert; operators and engagement officers those of deployments they are assigned to."""
    if has_role(user, Role.AUTHORISING_OFFICER, Role.DPO):
        return True
    return has_role(user, *REVIEWER_ROLES) and deployment.assigned_officers.filter(pk=user.pk).exists()


def alert_probe_image(*, actor: User, alert: Alert) -> bytes:
    """Decrypt the probe crop for someone allowed to see it; every viewing is audited (domain.md 7)."""
    if not may_view_alerts(actor, alert.deployment):
        raise NotPermitted(_("You may not see this alert."), code="not_permitted")
    with transaction.atomic():
        # Locked, as a sighting locks it: the crop served is the one the event names, and no sighting replaces it
        # after this event (alert_record_sighting).
        current = (
            Alert.objects.select_for_update()
            .only("id", "deployment_id", "probe_crop", "probe_sha256")
            .filter(pk=alert.pk)
            .first()
        )
        if current is None or not current.probe_crop:
            raise NotFound(_("The probe image has been deleted under the retention policy."), code="probe_destroyed")
        audit.record(
            IMAGE_VIEWED,
            actor=actor,
            target=current,
            deployment_id=current.deployment_id,
            after={"image": "probe", "probe_sha256": current.probe_sha256},
        )
    return decrypt_bytes(current.probe_crop)


def alert_reference_image(*, actor: User, alert: Alert) -> tuple[bytes, str]:
    """The watch-list image of the alert's entry, beside the probe for comparison; viewing is audited."""
    if not may_view_alerts(actor, alert.deployment):
        raise NotPermitted(_("You may not see this alert."), code="not_permitted")
    try:
        data, content_type = gallery.entry_reference_image(alert.entry_id)
    except Exception as exc:  # noqa: BLE001 - destroyed or unavailable: the console says so
        raise NotFound(_("The watch-list image is no longer available."), code="reference_unavailable") from exc
    with transaction.atomic():
        audit.record(
            IMAGE_VIEWED,
            actor=actor,
            target=alert,
            deployment_id=alert.deployment_id,
            after={"image": "watchlist_entry", "entry_id": alert.entry_id},
        )
    return data, content_type


PROBE_DESTROYER_ROLES = (Role.DPO,)


def alert_destroy_probe(*, actor: Any, alert_id: int, reason: str = "retention") -> bool:
    """Destroy an alert's encrypted probe crop; the row keeps scores, times and outcome (domain.md 6).

    The retention sweep calls it as the system (actor None or SYSTEM); a person must be the DPO. Refused while an
    evidential hold is active. Idempotent: returns False, and audits nothing, when it was already destroyed.
    """
    if actor is not None and actor is not _system():
        require_role(actor, *PROBE_DESTROYER_ROLES, action=_("destroy probe images"))
    with transaction.atomic():
        alert = (
            Alert.objects.select_for_update()
            .only("id", "deployment_id", "probe_sha256", "probe_destroyed_at")
            .filter(pk=alert_id)
            .first()
        )
        if alert is None:
            raise NotFound(_("There is no such alert."), code="alert_not_found")
        if alert.probe_destroyed_at is not None:
            return False
        hold = active_hold(PROBE_TARGET_TYPE, alert.pk)
        if hold is not None:
            raise InvalidTransition(
                _("The alert is on evidential hold (%(r)s); lift the hold first.") % {"r": hold.reason},
                code="evidential_hold",
            )
        now = timezone.now()
        Alert.objects.filter(pk=alert.pk).update(probe_crop=None, probe_destroyed_at=now, updated_at=now)
        audit.record(
            "alert.probe_destroyed",
            actor=actor,
            target_type=PROBE_TARGET_TYPE,
            target_id=alert.pk,
            deployment_id=alert.deployment_id,
            before={"probe_sha256": alert.probe_sha256},
            after={"reason": (reason or "").strip() or "retention", "probe_destroyed_at": now},
        )
    return True


def decrypt_probe(alert: Alert) -> bytes:
    """The probe crop for a repeat display the caller has already audited (the console refreshes every second)."""
    if not alert.probe_crop:
        raise NotFound(_("The probe image has been deleted under the retention policy."), code="probe_destroyed")
    return decrypt_bytes(alert.probe_crop)


def reference_image_unaudited(alert: Alert) -> tuple[bytes, str]:
    """The entry's watch-list image for a repeat display the caller has already audited."""
    try:
        return gallery.entry_reference_image(alert.entry_id)
    except Exception as exc:  # noqa: BLE001
        raise NotFound(_("The watch-list image is no longer available."), code="reference_unavailable") from exc


# ----------------------------------------------------------------------------------------------------------------
# Published statistics


def _union_seconds(intervals: list[tuple[datetime.datetime, datetime.datetime]]) -> int:
    total = datetime.timedelta()
    current_start: datetime.datetime | None = None
    current_end: datetime.datetime | None = None
    for start, end in sorted(intervals):
        if current_end is None or start > current_end:
            if current_start is not None and current_end is not None:
                total += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_start is not None and current_end is not None:
        total += current_end - current_start
    return int(total.total_seconds())


def deployment_statistics(deployment: Deployment) -> dict[str, int]:
    """The Met-format figures of a deployment, computed from its alerts, adjudications and sessions.

    Mapping from the human review to the published columns (domain.md 2.5, 5):

    - total_alerts: every alert raised (repeat sightings of one person within the repeat interval are one alert).
    - false_unconfirmed: the operator marked it a false alert; nobody engaged, so it was never confirmed.
    - true_unconfirmed: the operator (and, with two-person verification, a second verifier) referred it, but the
      engagement officer did not locate the person, or has not yet recorded the engagement.
    - true_confirmed: the person was located and their identity confirmed as the watch-list subject.
    - false_confirmed: the person was located and engaged, and the identity was found NOT to be the subject.
    - engagements: alerts where the person was located and engaged (true_confirmed + false_confirmed).
    - outcome_arrest / outcome_other / no_action: the recorded outcome of each engagement.
    - Alerts still awaiting the operator (or the second verifier) count in total_alerts only.
    - faces_seen: the sum of every session's face counter (an estimate: one person is counted in every frame).
    - duration_seconds: wall-clock time during which at least one session was live (overlaps counted once).
    """
    alerts = Alert.objects.filter(deployment=deployment)
    engaged = Q(status=A.ENGAGED)
    figures = alerts.aggregate(
        total_alerts=Count("pk"),
        false_unconfirmed=Count("pk", filter=Q(status=A.DISMISSED)),
        true_unconfirmed=Count("pk", filter=Q(status__in=[A.REFERRED, A.NOT_LOCATED])),
        true_confirmed=Count("pk", filter=engaged & Q(identity_confirmed=True)),
        false_confirmed=Count("pk", filter=engaged & Q(identity_confirmed=False)),
        engagements=Count("pk", filter=engaged),
        outcome_arrest=Count("pk", filter=engaged & Q(outcome=Outcome.ARREST)),
        outcome_other=Count("pk", filter=engaged & Q(outcome=Outcome.OTHER_ACTION)),
        no_action=Count("pk", filter=engaged & Q(outcome=Outcome.NO_ACTION)),
    )
    sessions = MatchingSession.objects.filter(deployment=deployment)
    figures["faces_seen"] = sessions.aggregate(n=Sum("faces_seen"))["n"] or 0
    now = timezone.now()
    figures["duration_seconds"] = _union_seconds(
        [(s.started_at, s.stopped_at or now) for s in sessions.only("started_at", "stopped_at")]
    )
    return {key: int(value or 0) for key, value in figures.items()}
