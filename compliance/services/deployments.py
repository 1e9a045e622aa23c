"""Every write to a deployment (domain.md 2): application, authorisation, transitions, signage, leaflets, review.

Stop hooks for other apps (matching, watch-lists) — plain lists of callables `(deployment_id: int, reason: str)`,
each called once after the transaction that stops the deployment commits (a failing hook is logged, not raised):

- `on_deployment_stopped`: after suspend, revoke, cancel, complete, and a material change that voids the
  authorisation. `reason` is one of "suspended", "revoked", "cancelled", "completed", "authorisation_voided".
  Matching stops running sessions and drops queued frames here; the watch-list app destroys the watch-list on
  "revoked" and "cancelled" (completed deployments' watch-lists go by the retention sweep).
- `on_deployment_completed`, `on_deployment_revoked`: the same, for those two reasons only; nothing in this
  version subscribes (docs/architecture.md).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from itertools import pairwise
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from compliance import audit, gates
from compliance.choices import (
    FIELD_ROLES,
    AlertPolicyKind,
    DeploymentStatus,
    OffenceType,
    Role,
    UseCase,
    WatchlistCategory,
)
from compliance.models import (
    Authorisation,
    AuthorisationDecision,
    CameraUnit,
    Deployment,
    DeploymentWindow,
    LeafletRecord,
    ObjectiveMet,
    PostDeploymentReview,
    SignageRecord,
    User,
)
from compliance.permissions import has_role, require_authorising_rank, require_role
from compliance.text import lf_line_breaks
from lfr_portal.errors import InvalidTransition, NotPermitted, RuleViolation

logger = logging.getLogger(__name__)

S = DeploymentStatus
StopHook = Callable[[int, str], None]
on_deployment_stopped: list[StopHook] = []
on_deployment_completed: list[StopHook] = []
on_deployment_revoked: list[StopHook] = []
# Whether a deployment was used: `(deployment_id) -> bool`, true once a matching session started under it (the
# matching app registers it). A used deployment is closed, reviewed and published, never cancelled.
deployment_used: list[Callable[[int], bool]] = []
# Extra authorisation checks (e.g. the EU AI Act pack): `(deployment) -> {field: [messages]}`, empty when fine.
before_authorise: list[Callable[[Deployment], dict[str, list[str]]]] = []

# The one table of allowed transitions: action -> (states it applies to, resulting state).
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "submit": (frozenset({S.DRAFT}), S.SUBMITTED),
    "authorise": (frozenset({S.SUBMITTED}), S.AUTHORISED),
    "reject": (frozenset({S.SUBMITTED}), S.REJECTED),
    "void": (frozenset({S.AUTHORISED, S.SUSPENDED}), S.SUBMITTED),
    "suspend": (frozenset({S.AUTHORISED}), S.SUSPENDED),
    "resume": (frozenset({S.SUSPENDED}), S.AUTHORISED),
    "revoke": (frozenset({S.AUTHORISED, S.SUSPENDED}), S.REVOKED),
    "cancel": (frozenset({S.DRAFT, S.SUBMITTED, S.AUTHORISED}), S.CANCELLED),
    "complete": (frozenset({S.AUTHORISED, S.SUSPENDED}), S.COMPLETED),
    # An application voided back to `submitted` (it was authorised and may have matched) whose last window then
    # ended can never be authorised again: the system completes it, so that its watch-list and alerts are
    # destroyed on time and its record can be reviewed and published (domain.md 2.5, 3, 6). An AO may close one
    # that ran sessions earlier (it may not be rejected or cancelled).
    "complete_voided": (frozenset({S.SUBMITTED}), S.COMPLETED),
    "review": (frozenset({S.COMPLETED}), S.REVIEWED),
}

EDITABLE_STATES = frozenset({S.DRAFT, S.SUBMITTED, S.AUTHORISED, S.SUSPENDED})
# Signage, leaflets and the team are editable until the deployment completes (domain.md 2.4); revoked and
# cancelled deployments never complete, and their signs still have to be recorded as taken down.
RECORDS_EDITABLE_STATES = frozenset({S.DRAFT, S.SUBMITTED, S.AUTHORISED, S.SUSPENDED, S.REVOKED, S.CANCELLED})
# Signs come down after the last window, so their removal may still be recorded until the review publishes.
SIGN_REMOVAL_STATES = RECORDS_EDITABLE_STATES | {S.COMPLETED}

TEXT_FIELDS = (
    "title",
    "objectives",
    "other_offence",
    "location_name",
    "location_address",
    "zone_of_recognition",
    "location_grounds",
    "necessity",
    "proportionality",
    "alternatives_considered",
    "dpia_reference",
    "dpia_version",
    "eia_reference",
    "apd_reference",
    "public_notice_where",
    "public_notice_text",
    "critical_threat_justification",
)
CHOICE_FIELDS = ("use_case", "alert_policy")
LIST_FIELDS = ("offence_types", "watchlist_categories")
NUMBER_FIELDS = ("latitude", "longitude", "watchlist_max_size", "match_threshold", "alert_margin")
APPLICATION_FIELDS = frozenset(
    TEXT_FIELDS + CHOICE_FIELDS + LIST_FIELDS + NUMBER_FIELDS + ("public_notice_at", "standalone_attested")
)
# After authorisation, changing anything in the authorised snapshot needs a fresh authorisation (domain.md 2.2),
# except these, which record what happened rather than what was authorised. Not the critical-threat
# justification: it is the exception to 24 hours' public notice (gate 5), which only the AO may accept. Added or
# changed afterwards, the applicant would grant it to themselves.
NON_MATERIAL_KEYS = frozenset({"title", "public_notice_at", "public_notice_where", "public_notice_text"})
MIN_GROUNDS_LENGTH = 20
# How far ahead of the server's clock a record of something done may be dated (a device's clock drifts a little).
RECORD_CLOCK_TOLERANCE = datetime.timedelta(minutes=2)

Window = tuple[datetime.datetime, datetime.datetime]


# ----------------------------------------------------------------------------------------------------------------
# Validation


def policy_threshold() -> float:
    return float(settings.LFR_POLICY_THRESHOLD)


def _local(dt: datetime.datetime) -> str:
    return timezone.localtime(dt).strftime("%Y-%m-%d %H:%M")


def _window_label(window: Window) -> str:
    return f"{_local(window[0])} – {_local(window[1])}"


def window_errors(windows: Sequence[Window]) -> list[str]:
    """Rules every set of windows obeys even in a draft: ends after start, maximum length, no overlap."""
    errors: list[str] = []
    max_hours = settings.LFR_MAX_WINDOW_HOURS
    for start, end in windows:
        if timezone.is_naive(start) or timezone.is_naive(end):
            errors.append(_("Window times must include a time zone."))
            return errors
    # In UTC: Python compares and subtracts two times of one zone by their wall clocks, so a window across the
    # autumn change would measure an hour short, and two windows in the repeated hour would not overlap.
    ordered = sorted((start.astimezone(datetime.UTC), end.astimezone(datetime.UTC)) for start, end in windows)
    for window in ordered:
        start, end = window
        if end <= start:
            errors.append(_("Window %(w)s must end after it starts.") % {"w": _window_label(window)})
        elif end - start > datetime.timedelta(hours=max_hours):
            hours = (end - start).total_seconds() / 3600
            errors.append(
                _("Window %(w)s is %(h).1f hours long; the maximum is %(max)s hours.")
                % {"w": _window_label(window), "h": hours, "max": max_hours}
            )
    for first, second in pairwise(ordered):
        if second[0] < first[1]:
            errors.append(
                _("Windows %(a)s and %(b)s overlap.") % {"a": _window_label(first), "b": _window_label(second)}
            )
    return errors


def value_errors(values: dict[str, Any], windows: Sequence[Window] | None) -> dict[str, list[str]]:
    """Rules on the values entered, enforced on every save (drafts included); gaps are not errors here."""
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    if values.get("use_case") and values["use_case"] not in UseCase.values:
        add("use_case", _("Choose a use case from the list."))
    if values.get("alert_policy") and values["alert_policy"] not in AlertPolicyKind.values:
        add("alert_policy", _("Choose an alert policy from the list."))
    for field, choices in (("offence_types", OffenceType), ("watchlist_categories", WatchlistCategory)):
        chosen = values.get(field)
        if chosen is None:
            continue
        if not isinstance(chosen, list) or any(item not in choices.values for item in chosen):
            add(field, _("Choose only from the closed list; there is no catch-all."))
        elif len(set(chosen)) != len(chosen):
            add(field, _("Each choice may appear only once."))
    threshold = values.get("match_threshold")
    if threshold is not None:
        if not 0 < threshold <= 1:
            add("match_threshold", _("The match threshold must be greater than 0 and at most 1."))
        elif threshold > policy_threshold():
            add(
                "match_threshold",
                _("The threshold %(t)s is looser than the force policy %(p)s; it must be %(p)s or lower (stricter).")
                % {"t": threshold, "p": policy_threshold()},
            )
    margin = values.get("alert_margin")
    if margin is not None and margin < 0:
        add("alert_margin", _("The alert margin cannot be negative."))
    latitude, longitude = values.get("latitude"), values.get("longitude")
    if latitude is not None and not -90 <= latitude <= 90:
        add("latitude", _("Latitude must be between -90 and 90."))
    if longitude is not None and not -180 <= longitude <= 180:
        add("longitude", _("Longitude must be between -180 and 180."))
    size = values.get("watchlist_max_size")
    if size is not None and size < 1:
        add("watchlist_max_size", _("The maximum watch-list size must be at least 1."))
    if windows is not None:
        for message in window_errors(windows):
            add("windows", message)
    return errors


def application_problems(deployment: Deployment, *, at: datetime.datetime | None = None) -> dict[str, list[str]]:
    """Everything that stops this application being submitted or authorised, by field (empty when complete)."""
    at = at or timezone.now()
    values = {name: getattr(deployment, name) for name in APPLICATION_FIELDS}
    windows = [(w.start, w.end) for w in deployment.windows.all()]
    errors = value_errors(values, windows)

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    required = {
        "title": _("Give the deployment a title."),
        "use_case": _("Choose the use case."),
        "objectives": _("State the objectives."),
        "location_name": _("Name the location."),
        "location_address": _("Give the location's address."),
        "zone_of_recognition": _("Describe the zone of recognition."),
        "necessity": _("Explain why the deployment is necessary."),
        "proportionality": _("Explain why the deployment is proportionate."),
        "alternatives_considered": _("Record the less intrusive alternatives considered."),
        "dpia_reference": _("A Data Protection Impact Assessment reference is required before authorisation."),
        "dpia_version": _("Give the version of the DPIA in force."),
        "eia_reference": _("An Equality Impact Assessment reference is required before authorisation."),
        "apd_reference": _("An Appropriate Policy Document reference is required before authorisation."),
        "public_notice_where": _("Record where the deployment was announced."),
        "public_notice_text": _("Record the text of the public notice."),
    }
    for field, message in required.items():
        if not str(values.get(field) or "").strip():
            add(field, message)
    grounds = (deployment.location_grounds or "").strip()
    if not grounds:
        add(
            "location_grounds",
            _("State the grounds for believing sought persons will be at this location (Bridges, para 130)."),
        )
    elif len(grounds) < MIN_GROUNDS_LENGTH:
        add(
            "location_grounds",
            _("The grounds for the location must be specific (at least %(n)s characters).") % {"n": MIN_GROUNDS_LENGTH},
        )
    if deployment.latitude is None or deployment.longitude is None:
        add("latitude" if deployment.latitude is None else "longitude", _("Give the location's coordinates."))
    if not deployment.offence_types:
        add("offence_types", _("Choose at least one offence type targeted."))
    elif OffenceType.OTHER_SERIOUS in deployment.offence_types and not deployment.other_offence.strip():
        add("other_offence", _("Name the other serious offence explicitly."))
    if not deployment.watchlist_categories:
        add("watchlist_categories", _("Choose at least one watch-list category."))
    if deployment.watchlist_max_size is None:
        add("watchlist_max_size", _("Set a maximum watch-list size."))
    if deployment.match_threshold is None:
        add("match_threshold", _("Set the match threshold for this deployment."))
    if deployment.alert_policy == AlertPolicyKind.MARGIN and not deployment.alert_margin > 0:
        add("alert_margin", _("The margin policy needs a margin greater than 0."))
    if not windows:
        add("windows", _("Add at least one time window."))
    else:
        first_start, last_end = min(w[0] for w in windows), max(w[1] for w in windows)
        validity = datetime.timedelta(days=settings.LFR_MAX_VALIDITY_DAYS)
        if last_end - first_start > validity:
            add(
                "windows",
                _("The windows span more than %(d)s days, so they cannot all fall inside one authorisation's validity.")
                % {"d": settings.LFR_MAX_VALIDITY_DAYS},
            )
        for window in windows:
            if window[1] <= at:
                add("windows", _("Window %(w)s has already ended.") % {"w": _window_label(window)})
        notice_at = deployment.public_notice_at
        lead = datetime.timedelta(hours=settings.LFR_PUBLIC_NOTICE_HOURS)
        if (
            notice_at is not None
            and notice_at > first_start - lead
            and not deployment.critical_threat_justification.strip()
        ):
            add(
                "public_notice_at",
                _(
                    "Public notice must be given at least %(h)s hours before the first window (%(start)s); "
                    "a later notice needs a recorded critical-threat justification."
                )
                % {"h": settings.LFR_PUBLIC_NOTICE_HOURS, "start": _local(first_start)},
            )
    if deployment.public_notice_at is None:
        add("public_notice_at", _("Record when the deployment was announced to the public."))
    if not deployment.standalone_attested:
        add("standalone_attested", _("Attest that the system is not linked to CCTV, body-worn video or ANPR."))
    cameras = list(deployment.camera_units.all())
    if not cameras:
        add("camera_units", _("Choose at least one camera unit."))
    for camera in cameras:
        if not camera.standalone:
            add("camera_units", _("Camera %(c)s is not standalone.") % {"c": camera.identifier})
        if not camera.active:
            add("camera_units", _("Camera %(c)s is not active.") % {"c": camera.identifier})
    return errors


# ----------------------------------------------------------------------------------------------------------------
# Snapshot


def _utc(dt: datetime.datetime | None) -> str | None:
    return dt.astimezone(datetime.UTC).isoformat() if dt else None


def application_snapshot(deployment: Deployment) -> dict[str, Any]:
    """The canonical content of the application: what an AO authorises and what a material change alters."""
    snapshot: dict[str, Any] = {"reference": deployment.reference, "applicant_id": deployment.applicant_id}
    for name in sorted(APPLICATION_FIELDS):
        value = getattr(deployment, name)
        if name in LIST_FIELDS:
            value = sorted(value or [])
        elif isinstance(value, datetime.datetime):
            value = _utc(value)
        snapshot[name] = value
    snapshot["windows"] = [
        [_utc(w.start), _utc(w.end)] for w in sorted(deployment.windows.all(), key=lambda w: w.start)
    ]
    snapshot["camera_units"] = sorted(c.identifier for c in deployment.camera_units.all())
    return snapshot


def snapshot_hash(snapshot: dict[str, Any]) -> str:
    payload = json.dumps(snapshot, sort_keys=True, separators=(",", ":"), ensure_ascii=False, cls=DjangoJSONEncoder)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def application_version(deployment: Deployment) -> str:
    """The hash of the application as it stands: what an AO read, sent back with the decision."""
    return snapshot_hash(application_snapshot(deployment))


def _require_version_read(locked: Deployment, reviewed_version: str) -> None:
    """Refuse a decision on an application that changed after the AO read it (the applicant may still edit a
    submitted application): what is authorised and frozen must be what the AO weighed."""
    if reviewed_version and reviewed_version != application_version(locked):
        raise InvalidTransition(
            _("The application changed after you opened it. Read it again before you decide."),
            code="application_changed",
        )


# ----------------------------------------------------------------------------------------------------------------
# Helpers


def _fresh(deployment: Deployment | int, *, lock: bool = True) -> Deployment:
    pk = deployment.pk if isinstance(deployment, Deployment) else deployment
    qs = Deployment.objects.select_related("authorisation", "applicant").prefetch_related(
        "windows", "camera_units", "assigned_officers"
    )
    if lock:
        qs = qs.select_for_update(of=("self",))
    return qs.get(pk=pk)


def _require_state(deployment: Deployment, action: str, allowed: Iterable[str], verb: str) -> None:
    if deployment.status not in allowed:
        raise InvalidTransition(
            _("Cannot %(verb)s %(ref)s: it is %(status)s.")
            % {"verb": verb, "ref": deployment.reference, "status": S(deployment.status).label},
            code=f"cannot_{action}",
            details={"status": deployment.status, "allowed_from": sorted(allowed)},
        )


def _cas(deployment: Deployment, action: str, *, verb: str, **updates: Any) -> Deployment:
    """Compare-and-set the status along TRANSITIONS; zero rows updated means someone else got there first."""
    sources, target = TRANSITIONS[action]
    _require_state(deployment, action, sources, verb)
    if deployment.status == S.AUTHORISED:
        # Out of `authorised`, after the row lock (the order every path takes): no worker's alert straddles it.
        gates.hold_authorisation(deployment.pk, exclusive=True)
    now = timezone.now()
    rows = Deployment.objects.filter(pk=deployment.pk, status=deployment.status).update(
        status=target, updated_at=now, **updates
    )
    if rows == 0:
        current = Deployment.objects.filter(pk=deployment.pk).values_list("status", flat=True).first()
        raise InvalidTransition(
            _("Cannot %(verb)s %(ref)s: its status changed to %(status)s meanwhile.")
            % {"verb": verb, "ref": deployment.reference, "status": S(current).label if current else "?"},
            code=f"cannot_{action}",
        )
    deployment.status = target
    for name, value in updates.items():
        setattr(deployment, name, value)
    return deployment


def _require_reason(reason: str, field: str = "reason") -> str:
    reason = (reason or "").strip()
    if not reason:
        raise RuleViolation(_("Give a reason."), details={field: [_("A reason is required.")]})
    return reason


def _run_hooks(hooks: list[StopHook], deployment_id: int, reason: str) -> None:
    for hook in list(hooks):
        try:
            hook(deployment_id, reason)
        except Exception:  # noqa: BLE001 - one failing hook must not stop the others (e.g. a watch-list purge)
            logger.exception("Deployment hook %r failed for deployment %s", hook, deployment_id)


def _schedule_stop_hooks(deployment_id: int, reason: str) -> None:
    transaction.on_commit(lambda: _run_hooks(on_deployment_stopped, deployment_id, reason))
    if reason == "completed":
        transaction.on_commit(lambda: _run_hooks(on_deployment_completed, deployment_id, reason))
    if reason == "revoked":
        transaction.on_commit(lambda: _run_hooks(on_deployment_revoked, deployment_id, reason))


def is_team_member(user: Any, deployment: Deployment) -> bool:
    """The applicant's team: the applicant and the officers assigned to the deployment."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if deployment.applicant_id == user.pk:
        return True
    return has_role(user, *FIELD_ROLES) and deployment.assigned_officers.filter(pk=user.pk).exists()


def _require_applicant(actor: User, deployment: Deployment, *, action: str) -> None:
    require_role(actor, Role.APPLICANT, action=action)
    if deployment.applicant_id != actor.pk:
        raise NotPermitted(
            _("Only the applicant of %(ref)s may %(action)s.") % {"ref": deployment.reference, "action": action},
            code="not_applicant",
        )


def _require_team(actor: User, deployment: Deployment, *, action: str) -> None:
    if not is_team_member(actor, deployment):
        raise NotPermitted(
            _("Only the applicant's team for %(ref)s may %(action)s.")
            % {"ref": deployment.reference, "action": action},
            code="not_team",
        )


def _require_decider(actor: User, deployment: Deployment, *, action: str) -> None:
    """An AO of at least the minimum rank who is not the applicant (domain.md 2.2)."""
    require_role(actor, Role.AUTHORISING_OFFICER, action=action)
    refuse_own_application(actor, deployment)
    require_authorising_rank(actor)


def refuse_own_application(actor: User, deployment: Deployment) -> None:
    """Separation of duties: nobody decides (or records a decision) on an application they made."""
    if deployment.applicant_id == actor.pk:
        raise NotPermitted(_("You cannot decide on an application you made yourself."), code="own_application")


def _clean_values(fields: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(fields) - APPLICATION_FIELDS)
    if unknown:
        raise RuleViolation(
            _("Unknown fields: %(f)s.") % {"f": ", ".join(unknown)},
            details={name: [_("Not a field of the application.")] for name in unknown},
        )
    values = dict(fields)
    for name in TEXT_FIELDS + CHOICE_FIELDS:
        if name in values:
            values[name] = lf_line_breaks(values[name] or "").strip()
    for name in LIST_FIELDS:
        if name in values and values[name] is None:
            values[name] = []
    if "alert_margin" in values and values["alert_margin"] is None:
        values["alert_margin"] = 0
    if "standalone_attested" in values:
        values["standalone_attested"] = bool(values["standalone_attested"])
    return values


def _cameras(camera_unit_ids: Sequence[int]) -> list[CameraUnit]:
    ids = list(dict.fromkeys(int(pk) for pk in camera_unit_ids))
    cameras = list(CameraUnit.objects.filter(pk__in=ids))
    if len(cameras) != len(ids):
        raise RuleViolation(_("Unknown camera unit."), details={"camera_units": [_("Choose registered camera units.")]})
    return cameras


def _set_windows(deployment: Deployment, windows: Sequence[Window]) -> None:
    deployment.windows.all().delete()
    DeploymentWindow.objects.bulk_create(
        [DeploymentWindow(deployment=deployment, start=start, end=end) for start, end in sorted(windows)]
    )


# ----------------------------------------------------------------------------------------------------------------
# Application


def deployment_create(
    *,
    actor: User,
    title: str,
    windows: Sequence[Window] | None = None,
    camera_unit_ids: Sequence[int] | None = None,
    **fields: Any,
) -> Deployment:
    """Start a draft application (Applicant); gaps are allowed, invalid values are not."""
    require_role(actor, Role.APPLICANT, action=_("draft deployment applications"))
    values = _clean_values({"title": title, **fields})
    errors = value_errors(values, windows)
    if not values["title"]:
        errors.setdefault("title", []).append(_("Give the deployment a title."))
    if errors:
        raise RuleViolation(_("The application has errors."), details=errors)
    cameras = _cameras(camera_unit_ids or [])
    with transaction.atomic():
        deployment = Deployment.objects.create(
            reference=f"draft-{timezone.now().timestamp()}-{actor.pk}", applicant=actor, **values
        )
        deployment.reference = f"LFR-{timezone.localdate().year}-{deployment.pk:04d}"
        deployment.save(update_fields=["reference"])
        _set_windows(deployment, windows or [])
        deployment.camera_units.set(cameras)
        deployment = _fresh(deployment, lock=False)
        audit.record(
            "deployment.created",
            actor=actor,
            target=deployment,
            deployment_id=deployment.pk,
            after=application_snapshot(deployment),
        )
    return deployment


def deployment_update(
    *,
    actor: User,
    deployment: Deployment,
    windows: Sequence[Window] | None = None,
    camera_unit_ids: Sequence[int] | None = None,
    **fields: Any,
) -> Deployment:
    """Edit the application (its applicant). A material change after authorisation voids it (domain.md 2.2)."""
    _require_applicant(actor, deployment, action=_("edit this application"))
    values = _clean_values(fields)
    if "title" in values and not values["title"]:
        raise RuleViolation(_("The application has errors."), details={"title": [_("Give the deployment a title.")]})
    with transaction.atomic():
        locked = _fresh(deployment)
        _require_state(locked, "edit", EDITABLE_STATES, _("edit"))
        merged = {name: getattr(locked, name) for name in APPLICATION_FIELDS} | values
        errors = value_errors(merged, windows)
        if errors:
            raise RuleViolation(_("The application has errors."), details=errors)
        cameras = _cameras(camera_unit_ids) if camera_unit_ids is not None else None
        before = application_snapshot(locked)
        for name, value in values.items():
            setattr(locked, name, value)
        locked.save(update_fields=[*values.keys(), "updated_at"])
        if windows is not None:
            _set_windows(locked, windows)
        if cameras is not None:
            locked.camera_units.set(cameras)
        locked = _fresh(locked)
        after = application_snapshot(locked)
        # Text saved from a page before line breaks were stored as LF may still hold CRLF: not a change.
        changed = sorted(key for key in after if lf_line_breaks(before.get(key)) != lf_line_breaks(after[key]))
        if not changed:
            return locked
        audit.record(
            "deployment.updated",
            actor=actor,
            target=locked,
            deployment_id=locked.pk,
            before={k: before.get(k) for k in changed},
            after={k: after[k] for k in changed},
        )
        material = [key for key in changed if key not in NON_MATERIAL_KEYS]
        if material and locked.status in (S.AUTHORISED, S.SUSPENDED):
            _void_authorisation(locked, actor=actor, changed=material)
    return locked


def deployment_void_for_change(*, actor: User, deployment: Deployment, changed: list[str]) -> bool:
    """Another record the authorisation rested on changed materially (e.g. the EU AI Act record): void the
    authorisation if one is in force, as a change to the application itself would. Call inside the change's
    transaction. True when it voided one."""
    locked = _fresh(deployment)
    if not changed or locked.status not in (S.AUTHORISED, S.SUSPENDED):
        return False
    _void_authorisation(locked, actor=actor, changed=changed)
    return True


def _void_authorisation(deployment: Deployment, *, actor: User, changed: list[str]) -> None:
    authorisation = deployment.authorisation
    now = timezone.now()
    reason = _("Material change after authorisation: %(fields)s.") % {"fields": ", ".join(changed)}
    previous = deployment.status
    _cas(deployment, "void", verb=_("change"), authorisation=None, submitted_at=now, status_reason=reason)
    if authorisation is not None:
        Authorisation.objects.filter(pk=authorisation.pk).update(voided_at=now, void_reason=reason)
    audit.record(
        "deployment.authorisation_voided",
        actor=actor,
        target=deployment,
        deployment_id=deployment.pk,
        before={
            "status": previous,
            "authorisation_id": authorisation.pk if authorisation else None,
            "snapshot_hash": authorisation.snapshot_hash if authorisation else None,
        },
        after={"status": deployment.status, "changed": changed, "reason": reason},
    )
    _schedule_stop_hooks(deployment.pk, "authorisation_voided")


def deployment_submit(*, actor: User, deployment: Deployment) -> Deployment:
    """Submit a complete draft for authorisation; refused with every problem named by field."""
    _require_applicant(actor, deployment, action=_("submit this application"))
    with transaction.atomic():
        locked = _fresh(deployment)
        _require_state(locked, "submit", TRANSITIONS["submit"][0], _("submit"))
        problems = application_problems(locked)
        if problems:
            raise RuleViolation(_("The application is not complete."), code="incomplete_application", details=problems)
        now = timezone.now()
        _cas(locked, "submit", verb=_("submit"), submitted_at=now, status_reason="")
        audit.record(
            "deployment.submitted",
            actor=actor,
            target=locked,
            deployment_id=locked.pk,
            before={"status": S.DRAFT},
            after={"status": locked.status, "snapshot_hash": snapshot_hash(application_snapshot(locked))},
        )
    return locked


def deployment_authorise(
    *,
    actor: User,
    deployment: Deployment,
    rationale: str,
    expires_at: datetime.datetime | None,
    conditions: str = "",
    match_threshold: float | None = None,
    reviewed_version: str = "",
) -> Authorisation:
    """Authorise a submitted application (AO, minimum rank, not the applicant); the snapshot hash is audited.
    `reviewed_version`: `application_version` of what the AO read; refused (409) if the application changed."""
    _require_decider(actor, deployment, action=_("authorise deployments"))
    with transaction.atomic():
        locked = _fresh(deployment)
        _require_state(locked, "authorise", TRANSITIONS["authorise"][0], _("authorise"))
        _require_version_read(locked, reviewed_version)
        now = timezone.now()
        errors: dict[str, list[str]] = {}
        if not (rationale or "").strip():
            errors["rationale"] = [_("Record the rationale for the authorisation.")]
        if match_threshold is not None and locked.match_threshold is not None:
            if match_threshold > locked.match_threshold:
                errors["match_threshold"] = [
                    _("The authorising officer may tighten the threshold (%(t)s) but never loosen it.")
                    % {"t": locked.match_threshold}
                ]
            elif not match_threshold > 0:
                errors["match_threshold"] = [_("The match threshold must be greater than 0.")]
        max_expiry = now + datetime.timedelta(days=settings.LFR_MAX_VALIDITY_DAYS)
        if expires_at is None:
            errors["expires_at"] = [_("Set when the authorisation expires.")]
        elif expires_at <= now:
            errors["expires_at"] = [_("The expiry must be in the future.")]
        elif expires_at > max_expiry:
            errors["expires_at"] = [
                _("An authorisation is valid for at most %(d)s days (until %(max)s).")
                % {"d": settings.LFR_MAX_VALIDITY_DAYS, "max": _local(max_expiry)}
            ]
        else:
            for window in locked.windows.all():
                if window.end > expires_at:
                    errors.setdefault("windows", []).append(
                        _("Window %(w)s falls outside the authorisation's validity (expires %(e)s).")
                        % {"w": _window_label((window.start, window.end)), "e": _local(expires_at)}
                    )
        if match_threshold is not None and "match_threshold" not in errors:
            locked.match_threshold = match_threshold
        for field, messages in application_problems(locked, at=now).items():
            errors.setdefault(field, []).extend(messages)
        for check in list(before_authorise):
            for field, messages in check(locked).items():
                errors.setdefault(field, []).extend(messages)
        if errors:
            raise RuleViolation(
                _("The application cannot be authorised as it stands."), code="cannot_authorise", details=errors
            )
        if match_threshold is not None:
            Deployment.objects.filter(pk=locked.pk).update(match_threshold=match_threshold)
        snapshot = application_snapshot(locked)
        digest = snapshot_hash(snapshot)
        authorisation = Authorisation.objects.create(
            deployment=locked,
            decided_by=actor,
            decision=AuthorisationDecision.AUTHORISED,
            rationale=rationale.strip(),
            conditions=(conditions or "").strip(),
            expires_at=expires_at,
            snapshot=snapshot,
            snapshot_hash=digest,
            decided_at=now,
        )
        _cas(locked, "authorise", verb=_("authorise"), authorisation=authorisation, authorised_at=now, status_reason="")
        audit.record(
            "deployment.authorised",
            actor=actor,
            target=locked,
            deployment_id=locked.pk,
            before={"status": S.SUBMITTED},
            after={
                "status": locked.status,
                "authorisation_id": authorisation.pk,
                "snapshot_hash": digest,
                "snapshot": snapshot,
                "expires_at": expires_at,
                "rationale": authorisation.rationale,
                "conditions": authorisation.conditions,
            },
        )
    return authorisation


def deployment_reject(
    *, actor: User, deployment: Deployment, rationale: str, reviewed_version: str = ""
) -> Authorisation:
    """Reject a submitted application with reasons (AO, minimum rank, not the applicant); `reviewed_version` as
    for authorising."""
    _require_decider(actor, deployment, action=_("reject deployments"))
    rationale = _require_reason(rationale, "rationale")
    with transaction.atomic():
        locked = _fresh(deployment)
        _require_state(locked, "reject", TRANSITIONS["reject"][0], _("reject"))
        _refuse_if_used(locked, _("rejected"))
        _require_version_read(locked, reviewed_version)
        now = timezone.now()
        snapshot = application_snapshot(locked)
        decision = Authorisation.objects.create(
            deployment=locked,
            decided_by=actor,
            decision=AuthorisationDecision.REJECTED,
            rationale=rationale,
            snapshot=snapshot,
            snapshot_hash=snapshot_hash(snapshot),
            decided_at=now,
        )
        _cas(locked, "reject", verb=_("reject"), status_reason=rationale)
        audit.record(
            "deployment.rejected",
            actor=actor,
            target=locked,
            deployment_id=locked.pk,
            before={"status": S.SUBMITTED},
            after={"status": locked.status, "reasons": rationale, "snapshot_hash": decision.snapshot_hash},
        )
    return decision


def _stop_transition(
    *, actor: User | None, deployment: Deployment, action: str, verb: str, reason: str, stamp: str, hook: str | None
) -> Deployment:
    with transaction.atomic():
        locked = _fresh(deployment)
        now = timezone.now()
        previous = locked.status
        _cas(locked, action, verb=verb, status_reason=reason, **{stamp: now})
        audit.record(
            f"deployment.{TRANSITIONS[action][1]}",
            actor=actor,
            target=locked,
            deployment_id=locked.pk,
            before={"status": previous},
            after={"status": locked.status, "reason": reason},
        )
        if hook:
            _schedule_stop_hooks(locked.pk, hook)
    return locked


def deployment_suspend(*, actor: User, deployment: Deployment, reason: str) -> Deployment:
    """Suspend an authorised deployment at once (AO or DPO); matching stops via on_deployment_stopped."""
    require_role(actor, Role.AUTHORISING_OFFICER, Role.DPO, action=_("suspend deployments"))
    reason = _require_reason(reason)
    return _stop_transition(
        actor=actor, deployment=deployment, action="suspend", verb=_("suspend"), reason=reason,
        stamp="suspended_at", hook="suspended",
    )  # fmt: skip


def deployment_resume(*, actor: User, deployment: Deployment, reason: str) -> Deployment:
    """Lift a suspension (AO of the minimum rank); the gates still decide whether sessions may run."""
    # Lifting a suspension re-authorises matching: the same AO rules as the decision itself.
    _require_decider(actor, deployment, action=_("resume deployments"))
    reason = _require_reason(reason)
    with transaction.atomic():
        locked = _fresh(deployment)
        _cas(locked, "resume", verb=_("resume"), status_reason=reason, suspended_at=None)
        audit.record(
            "deployment.resumed",
            actor=actor,
            target=locked,
            deployment_id=locked.pk,
            before={"status": S.SUSPENDED},
            after={"status": locked.status, "reason": reason},
        )
    return locked


def deployment_revoke(*, actor: User, deployment: Deployment, reason: str) -> Deployment:
    """Revoke for good (AO or DPO): matching stops and, via on_deployment_stopped, the watch-list is purged."""
    require_role(actor, Role.AUTHORISING_OFFICER, Role.DPO, action=_("revoke deployments"))
    if has_role(actor, Role.AUTHORISING_OFFICER):
        # Revocation is final and destroys the watch-list: an AO needs the authorising rank. Suspension, which
        # is reversible and stops matching at once, stays open to any AO and to the DPO.
        require_authorising_rank(actor)
    reason = _require_reason(reason)
    return _stop_transition(
        actor=actor, deployment=deployment, action="revoke", verb=_("revoke"), reason=reason,
        stamp="revoked_at", hook="revoked",
    )  # fmt: skip


def deployment_was_used(deployment_id: int) -> bool:
    """Whether a matching session ever ran under the deployment (`deployment_used`)."""
    return any(used(deployment_id) for used in deployment_used)


def _refuse_if_used(deployment: Deployment, ended_as: str) -> None:
    """A deployment that ran is completed, reviewed and published (domain.md 2.5), never cancelled or rejected:
    either would take it off the review and the transparency page."""
    if deployment_was_used(deployment.pk):
        raise RuleViolation(
            _(
                "Matching sessions have run under this deployment, so it cannot be %(ended_as)s: it is completed "
                "(closed by an Authorising Officer, or when its last window ends), then reviewed and published. To "
                "stop matching at once, suspend it."
            )
            % {"ended_as": ended_as},
            code="deployment_used",
        )


def deployment_cancel(*, actor: User, deployment: Deployment, reason: str) -> Deployment:
    """Cancel: the applicant before authorisation; an AO from submitted or authorised, unless the deployment was
    used (a cancelled deployment is never reviewed or published)."""
    require_role(actor, Role.AUTHORISING_OFFICER, Role.APPLICANT, action=_("cancel deployments"))
    if has_role(actor, Role.APPLICANT):
        _require_applicant(actor, deployment, action=_("cancel this application"))
    reason = _require_reason(reason)
    with transaction.atomic():
        locked = _fresh(deployment)
        if has_role(actor, Role.APPLICANT) and locked.status == S.AUTHORISED:
            raise NotPermitted(
                _("An authorised deployment can only be cancelled by an Authorising Officer."), code="cancel_authorised"
            )
        _refuse_if_used(locked, _("cancelled"))
        return _stop_transition(
            actor=actor, deployment=locked, action="cancel", verb=_("cancel"), reason=reason,
            stamp="cancelled_at", hook="cancelled",
        )  # fmt: skip


def deployment_close(*, actor: User, deployment: Deployment, reason: str) -> Deployment:
    """The AO closes (completes) a deployment early; sessions cannot start again. Also one that ran sessions and
    was returned to submitted by a change: it may not be rejected or cancelled, so closing is how it ends early."""
    require_role(actor, Role.AUTHORISING_OFFICER, action=_("close deployments"))
    require_authorising_rank(actor)
    reason = _require_reason(reason)
    status = Deployment.objects.values_list("status", flat=True).get(pk=deployment.pk)  # _cas checks it again
    voided_after_use = status == S.SUBMITTED and deployment_was_used(deployment.pk)
    return _stop_transition(
        actor=actor, deployment=deployment, action="complete_voided" if voided_after_use else "complete",
        verb=_("close"), reason=reason, stamp="completed_at", hook="completed",
    )  # fmt: skip


def completion_due_at(deployment: Deployment) -> datetime.datetime | None:
    """When the system completes the deployment: when its last window ends. One that ran sessions and was voided
    by a change ends no later than the windows it was last authorised for: it may not be rejected or cancelled, so
    windows cleared or moved years ahead would otherwise keep its watch-list and alerts for ever (domain.md 6)."""
    last_end = deployment.last_window_end
    if deployment.status != S.SUBMITTED or not deployment_was_used(deployment.pk):
        return last_end
    latest = (
        deployment.authorisations.filter(decision=AuthorisationDecision.AUTHORISED)
        .order_by("-decided_at")
        .only("snapshot")
        .first()
    )
    authorised_ends = [
        datetime.datetime.fromisoformat(end) for _start, end in (latest.snapshot if latest else {}).get("windows", [])
    ]
    if not authorised_ends:
        return last_end
    return max(authorised_ends) if last_end is None else min(last_end, max(authorised_ends))


def deployments_complete_finished(*, at: datetime.datetime | None = None) -> list[int]:
    """Complete every authorised or suspended deployment whose last window has ended (system actor).

    A submitted application whose last window has ended can never be authorised: if it was authorised once (and
    voided by a change) it completes; if it never was, it is cancelled. Either way its watch-list is destroyed."""
    at = at or timezone.now()
    sources = TRANSITIONS["complete"][0] | TRANSITIONS["complete_voided"][0]
    candidates = (
        Deployment.objects.filter(status__in=sources).prefetch_related("windows").only("id", "status", "reference")
    )
    completed: list[int] = []
    for deployment in candidates:
        last_end = completion_due_at(deployment)
        if last_end is None or last_end > at:
            continue
        reason = _("The last window ended at %(t)s.") % {"t": _local(last_end)}
        action, stamp, hook = "complete", "completed_at", "completed"
        if deployment.status == S.SUBMITTED:
            if not deployment.authorisations.filter(decision=AuthorisationDecision.AUTHORISED).exists():
                action, stamp, hook = "cancel", "cancelled_at", "cancelled"
                reason = _("The last window ended at %(t)s before the application was authorised.") % {
                    "t": _local(last_end)
                }
            else:
                action = "complete_voided"
        try:
            with transaction.atomic():
                # The windows again on the locked row: the applicant may have moved them since the list was read
                # (a submitted application stays editable), and cancelling is final.
                locked = _fresh(deployment)
                due = completion_due_at(locked)
                if locked.status != deployment.status or due is None or due > at:
                    continue
                _stop_transition(
                    actor=None, deployment=locked, action=action, verb=_("complete"), reason=reason, stamp=stamp,
                    hook=hook,
                )  # fmt: skip
        except InvalidTransition:
            continue  # someone (an AO, the applicant) got there first
        completed.append(deployment.pk)
    return completed


def review_open(deployment: Deployment) -> bool:
    """Whether the AO's post-deployment review may be recorded now: the deployment is completed, or it was revoked
    after sessions ran and has not been reviewed yet (domain.md 2.5: a deployment that ran is reviewed and
    published, however it ended)."""
    if deployment.status in TRANSITIONS["review"][0]:
        return True
    return deployment.status == S.REVOKED and deployment.reviewed_at is None and deployment_was_used(deployment.pk)


def _require_revoked_reviewable(deployment: Deployment) -> None:
    """A revoked deployment is reviewed once, and only if it ran: one revoked before any session ran showed nothing
    to review or publish."""
    if deployment.reviewed_at is not None:
        raise InvalidTransition(
            _("%(ref)s has already been reviewed and its record published.") % {"ref": deployment.reference},
            code="already_reviewed",
        )
    if not deployment_was_used(deployment.pk):
        raise InvalidTransition(
            _(
                "%(ref)s was revoked before any matching session ran, so there is nothing to review or publish. "
                "Only deployments that ran are reviewed."
            )
            % {"ref": deployment.reference},
            code="cannot_review",
            details={"status": deployment.status},
        )


def deployment_review(
    *,
    actor: User,
    deployment: Deployment,
    objective_met: str,
    outcome_summary: str,
    issues: str = "",
    complaints: str = "",
    complaint_count: int = 0,
) -> PostDeploymentReview:
    """Record the AO's post-deployment review; this publishes the deployment record (domain.md 2.5). A completed
    deployment becomes `reviewed`; a revoked one that ran stays `revoked` (revocation is final) and is published as
    revoked."""
    require_role(actor, Role.AUTHORISING_OFFICER, action=_("review deployments"))
    refuse_own_application(actor, deployment)  # nobody reviews their own deployment
    errors: dict[str, list[str]] = {}
    if objective_met not in ObjectiveMet.values:
        errors["objective_met"] = [_("Say whether the objective was met.")]
    if not (outcome_summary or "").strip():
        errors["outcome_summary"] = [_("Summarise the outcome.")]
    if complaint_count is None or complaint_count < 0:
        errors["complaint_count"] = [_("The number of complaints cannot be negative.")]
    if errors:
        raise RuleViolation(_("The review is not complete."), details=errors)
    with transaction.atomic():
        locked = _fresh(deployment)
        now = timezone.now()
        previous = locked.status
        if previous == S.REVOKED:
            _require_revoked_reviewable(locked)
        else:
            _require_state(locked, "review", TRANSITIONS["review"][0] | {S.REVOKED}, _("review"))
        review = PostDeploymentReview.objects.create(
            deployment=locked,
            reviewed_by=actor,
            objective_met=objective_met,
            outcome_summary=outcome_summary.strip(),
            issues=(issues or "").strip(),
            complaints=(complaints or "").strip(),
            complaint_count=complaint_count,
            reviewed_at=now,
        )
        if previous == S.REVOKED:
            # No transition: the row is locked and the review's one-to-one row makes a second review fail anyway.
            Deployment.objects.filter(pk=locked.pk).update(reviewed_at=now, updated_at=now)
            locked.reviewed_at = now
        else:
            _cas(locked, "review", verb=_("review"), reviewed_at=now, status_reason="")
        audit.record(
            "deployment.reviewed",
            actor=actor,
            target=locked,
            deployment_id=locked.pk,
            before={"status": previous},
            after={
                "status": locked.status,
                "published": True,
                "objective_met": objective_met,
                "complaint_count": complaint_count,
            },
        )
    return review


# ----------------------------------------------------------------------------------------------------------------
# Team, signage and leaflets


def deployment_set_assigned_officers(*, actor: User, deployment: Deployment, officer_ids: Sequence[int]) -> Deployment:
    """Set the operators and engagement officers assigned (the applicant); each must hold current training."""
    _require_applicant(actor, deployment, action=_("assign officers"))
    ids = list(dict.fromkeys(int(pk) for pk in officer_ids))
    officers = list(User.objects.filter(pk__in=ids, is_active=True))
    errors: list[str] = []
    if len(officers) != len(ids):
        errors.append(_("Choose active user accounts."))
    for officer in officers:
        if officer.role not in FIELD_ROLES:
            errors.append(_("%(u)s is not an operator or engagement officer.") % {"u": officer.username})
        elif not officer.has_current_training():
            errors.append(_("%(u)s does not hold current LFR training.") % {"u": officer.username})
    if errors:
        raise RuleViolation(_("Those officers cannot be assigned."), details={"assigned_officers": errors})
    with transaction.atomic():
        locked = _fresh(deployment)
        _require_state(locked, "assign", RECORDS_EDITABLE_STATES - {S.REVOKED, S.CANCELLED}, _("assign officers to"))
        before = sorted(u.username for u in locked.assigned_officers.all())
        locked.assigned_officers.set(officers)
        after = sorted(u.username for u in officers)
        if before != after:
            audit.record(
                "deployment.officers_assigned",
                actor=actor,
                target=locked,
                deployment_id=locked.pk,
                before={"assigned_officers": before},
                after={"assigned_officers": after},
            )
    return _fresh(locked, lock=False)


def _signage_payload(record: SignageRecord) -> dict[str, Any]:
    return {
        "position_description": record.position_description,
        "sign_count": record.sign_count,
        "placed_by": record.placed_by.username if record.placed_by_id else None,
        "placed_at": record.placed_at,
        "removed_by": record.removed_by.username if record.removed_by_id else None,
        "removed_at": record.removed_at,
        "photo": bool(record.photo_path),
        "photo_sha256": record.photo_sha256 or None,
    }


def _signage_errors(
    placed_at: Any, removed_at: Any, sign_count: Any, position: str, *, dated: Iterable[str] = ("placed_at",)
) -> dict[str, list[str]]:
    """What is wrong with a signage record; `dated`: the times being recorded now, which may not lie ahead."""
    errors: dict[str, list[str]] = {}
    if not (position or "").strip():
        errors["position_description"] = [_("Describe where the signs are.")]
    if sign_count is None or sign_count < 1:
        errors["sign_count"] = [_("Record at least one sign.")]
    if placed_at is None:
        errors["placed_at"] = [_("Record when the signs were placed.")]
    if removed_at is not None and placed_at is not None and removed_at <= placed_at:
        errors["removed_at"] = [_("Signs must be removed after they were placed.")]
    # Gate 4 rests on signs "recorded as placed" (domain.md 2.3): a time still ahead is a plan, and recorded in
    # advance it would open the gate by itself when that time came, whether or not anyone put a sign up.
    latest = timezone.now() + RECORD_CLOCK_TOLERANCE
    for field, when in (("placed_at", placed_at), ("removed_at", removed_at)):
        if field in dated and when is not None and when > latest and field not in errors:
            errors[field] = [
                _("%(t)s is still to come: record the signs once they have been placed or taken down.")
                % {"t": _local(when)}
            ]
    return errors


def signage_record_add(
    *,
    actor: User,
    deployment: Deployment,
    position_description: str,
    sign_count: int,
    placed_at: datetime.datetime,
    placed_by: User | None = None,
    photo: Any = None,
) -> SignageRecord:
    """Record signs placed at the location (the applicant's team, until the deployment completes)."""
    _require_team(actor, deployment, action=_("record signage"))
    errors = _signage_errors(placed_at, None, sign_count, position_description)
    if errors:
        raise RuleViolation(_("The signage record has errors."), details=errors)
    with transaction.atomic():
        locked = _fresh(deployment)
        _require_state(locked, "record_signage", RECORDS_EDITABLE_STATES, _("record signage for"))
        record = SignageRecord(
            deployment=locked,
            position_description=position_description.strip(),
            sign_count=sign_count,
            placed_at=placed_at,
            placed_by=placed_by or actor,
            recorded_by=actor,
        )
        if photo:
            from compliance.services.signage_photos import signage_photo_store  # encrypted, like other images

            stored = signage_photo_store(deployment=locked, upload=photo)
            record.photo_path, record.photo_content_type, record.photo_sha256 = (
                stored.path,
                stored.content_type,
                stored.sha256,
            )
        record.save()
        audit.record(
            "deployment.signage_recorded",
            actor=actor,
            target=record,
            deployment_id=locked.pk,
            after=_signage_payload(record),
        )
    return record


def _assign(record: Any, changes: dict[str, Any]) -> None:
    for name, value in changes.items():
        setattr(record, name, value.strip() if isinstance(value, str) else value)


def _save_and_audit_change(
    record: SignageRecord | LeafletRecord,
    before: dict[str, Any],
    payload: Callable[[Any], dict[str, Any]],
    action: str,
    *,
    actor: User,
) -> None:
    """Save a corrected record and audit it with before/after, only when something actually changed."""
    record.save()
    after = payload(record)
    if before != after:
        audit.record(action, actor=actor, target=record, deployment_id=record.deployment_id, before=before, after=after)


SIGNAGE_EDITABLE = ("position_description", "sign_count", "placed_at", "placed_by", "removed_at", "removed_by")


def signage_record_update(*, actor: User, record: SignageRecord, **changes: Any) -> SignageRecord:
    """Correct a signage record or record the signs' removal; only removal may be recorded after completion."""
    deployment = record.deployment
    _require_team(actor, deployment, action=_("edit signage records"))
    unknown = set(changes) - set(SIGNAGE_EDITABLE)
    if unknown:
        raise RuleViolation(_("Unknown fields."), details={k: [_("Not editable.")] for k in sorted(unknown)})
    with transaction.atomic():
        locked_deployment = _fresh(deployment)
        removal_only = set(changes) <= {"removed_at", "removed_by"}
        allowed = SIGN_REMOVAL_STATES if removal_only else RECORDS_EDITABLE_STATES
        _require_state(locked_deployment, "edit_signage", allowed, _("edit signage for"))
        locked = SignageRecord.objects.select_for_update().get(pk=record.pk)
        before = _signage_payload(locked)
        if "removed_at" in changes and changes["removed_at"] is not None and not changes.get("removed_by"):
            changes["removed_by"] = locked.removed_by or actor
        if "removed_at" in changes and changes["removed_at"] is None:
            changes["removed_by"] = None
        _assign(locked, changes)
        errors = _signage_errors(
            locked.placed_at, locked.removed_at, locked.sign_count, locked.position_description, dated=set(changes)
        )
        if errors:
            raise RuleViolation(_("The signage record has errors."), details=errors)
        _save_and_audit_change(locked, before, _signage_payload, "deployment.signage_updated", actor=actor)
    return locked


def _leaflet_payload(record: LeafletRecord) -> dict[str, Any]:
    return {
        "count": record.count,
        "handed_out_by": record.handed_out_by.username,
        "shift_start": record.shift_start,
        "shift_description": record.shift_description,
    }


def _still_to_come(shift_start: datetime.datetime) -> str:
    """Why a shift's start cannot be recorded yet ("" when it can): leaflets are recorded once handed out, as signs
    are once placed (the same clock tolerance); a time still ahead is a plan, not a record."""
    if shift_start > timezone.now() + RECORD_CLOCK_TOLERANCE:
        return _("%(t)s is still to come: record leaflets once they have been handed out.") % {"t": _local(shift_start)}
    return ""


def leaflet_record_add(
    *,
    actor: User,
    deployment: Deployment,
    count: int,
    shift_start: datetime.datetime,
    shift_description: str = "",
    handed_out_by: User | None = None,
) -> LeafletRecord:
    """Record leaflets handed out in a session or shift (the applicant's team, until completion)."""
    _require_team(actor, deployment, action=_("record leaflets"))
    errors: dict[str, list[str]] = {}
    if count is None or count < 0:
        errors["count"] = [_("The number of leaflets cannot be negative.")]
    if shift_start is None:
        errors["shift_start"] = [_("Record when the session or shift started.")]
    elif ahead := _still_to_come(shift_start):
        errors["shift_start"] = [ahead]
    if errors:
        raise RuleViolation(_("The leaflet record has errors."), details=errors)
    with transaction.atomic():
        locked = _fresh(deployment)
        _require_state(locked, "record_leaflets", RECORDS_EDITABLE_STATES, _("record leaflets for"))
        record = LeafletRecord.objects.create(
            deployment=locked,
            count=count,
            shift_start=shift_start,
            shift_description=(shift_description or "").strip(),
            handed_out_by=handed_out_by or actor,
            recorded_by=actor,
        )
        audit.record(
            "deployment.leaflets_recorded",
            actor=actor,
            target=record,
            deployment_id=locked.pk,
            after=_leaflet_payload(record),
        )
    return record


def leaflet_record_update(*, actor: User, record: LeafletRecord, **changes: Any) -> LeafletRecord:
    """Correct a leaflet record (the applicant's team, until completion)."""
    deployment = record.deployment
    _require_team(actor, deployment, action=_("edit leaflet records"))
    unknown = set(changes) - {"count", "shift_start", "shift_description", "handed_out_by"}
    if unknown:
        raise RuleViolation(_("Unknown fields."), details={k: [_("Not editable.")] for k in sorted(unknown)})
    if "count" in changes and (changes["count"] is None or changes["count"] < 0):
        raise RuleViolation(_("The leaflet record has errors."), details={"count": [_("Cannot be negative.")]})
    if changes.get("shift_start") is not None and (ahead := _still_to_come(changes["shift_start"])):
        raise RuleViolation(_("The leaflet record has errors."), details={"shift_start": [ahead]})
    with transaction.atomic():
        locked_deployment = _fresh(deployment)
        _require_state(locked_deployment, "edit_leaflets", RECORDS_EDITABLE_STATES, _("edit leaflets for"))
        locked = LeafletRecord.objects.select_for_update().get(pk=record.pk)
        before = _leaflet_payload(locked)
        _assign(locked, changes)
        _save_and_audit_change(locked, before, _leaflet_payload, "deployment.leaflets_updated", actor=actor)
    return locked


def deployment_export_pdf(*, actor: User, deployment: Deployment, kind: str) -> bytes:
    """Render the authorisation record or the deployment record as PDF; every export is audited (domain.md 7)."""
    from compliance import pdfs
    from compliance.selectors.deployments import deployment_visible

    if not deployment_visible(user=actor, deployment=deployment):
        raise NotPermitted(_("You may not see this deployment."), code="not_permitted")
    renderers = {"authorisation": pdfs.authorisation_record_pdf, "record": pdfs.deployment_record_pdf}
    if kind not in renderers:
        raise RuleViolation(_("Unknown export."), details={"kind": [_("Choose authorisation or record.")]})
    content = renderers[kind](deployment)
    with transaction.atomic():
        audit.record(
            "deployment.pdf_exported",
            actor=actor,
            target=deployment,
            deployment_id=deployment.pk,
            after={"kind": kind, "sha256": hashlib.sha256(content).hexdigest(), "bytes": len(content)},
        )
    return content
