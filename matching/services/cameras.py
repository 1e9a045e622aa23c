"""Camera units and their API tokens: the Administrator registers units, takes them out of use and back, and issues,
rotates and revokes their tokens; only a token's sha256 digest is stored."""

from __future__ import annotations

import datetime
import functools
import hashlib
import secrets
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from compliance import audit
from compliance.choices import Role
from compliance.models import CameraUnit, User
from compliance.permissions import require_role
from lfr_portal import rawsql
from lfr_portal.errors import InvalidTransition, RuleViolation
from lfr_portal.rawsql import Columns, column, table
from matching.models import CameraToken, MatchingSession
from matching.models.sessions import SessionStatus, StopReason
from matching.principals import CameraPrincipal
from matching.services.sessions import session_stop_by_system

TOKEN_PREFIX = "lfrcam_"
# Writing last_used_at on every frame would be a write per frame; once a minute is attribution enough.
LAST_USED_RESOLUTION = datetime.timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedToken:
    """A freshly issued token: `secret` exists only here and is shown to the Administrator once."""

    token: CameraToken
    secret: str


def token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _payload(token: CameraToken) -> dict[str, object]:
    return {"token_id": token.pk, "prefix": token.prefix, "camera_unit": token.camera_unit.identifier}


def _new_token(*, actor: User, camera_unit: CameraUnit, now: datetime.datetime) -> IssuedToken:
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            token = CameraToken.objects.create(
                camera_unit=camera_unit,
                key_sha256=token_digest(secret),
                prefix=secret[: len(TOKEN_PREFIX) + 6],
                issued_by=actor,
                issued_at=now,
            )
    except IntegrityError as exc:
        raise InvalidTransition(
            _("Camera %(c)s already has an active token; rotate or revoke it.") % {"c": camera_unit.identifier},
            code="token_exists",
        ) from exc
    return IssuedToken(token=token, secret=secret)


def _locked_camera(camera_unit: CameraUnit) -> CameraUnit:
    return CameraUnit.objects.select_for_update().get(pk=camera_unit.pk)


def camera_unit_register(*, actor: User, identifier: str, force: str, description: str = "") -> CameraUnit:
    """Register a standalone camera unit for the force (Administrator); its token is issued separately."""
    require_role(actor, Role.ADMINISTRATOR, action=_("register camera units"))
    identifier = (identifier or "").strip()
    if not identifier or not (force or "").strip():
        raise RuleViolation(_("Give the camera unit an identifier and a force."), code="invalid_camera_unit")
    with transaction.atomic():
        if CameraUnit.objects.filter(identifier=identifier).exists():
            raise RuleViolation(
                _("A camera unit %(c)s already exists.") % {"c": identifier},
                details={"identifier": [_("Choose another identifier.")]},
            )
        unit = CameraUnit.objects.create(identifier=identifier, force=force.strip(), description=description.strip())
        audit.record(
            "camera_unit.registered",
            actor=actor,
            target=unit,
            after={"identifier": unit.identifier, "force": unit.force, "description": unit.description},
        )
    return unit


@dataclass(frozen=True)
class CameraDeactivated:
    """What taking a unit out of use did: the sessions it stopped and the token it revoked (if any)."""

    camera_unit: CameraUnit
    stopped_sessions: tuple[int, ...]
    revoked_token: CameraToken | None


def _require_reason(reason: str, message: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise RuleViolation(message, code="reason_required", details={"reason": [_("A reason is required.")]})
    return reason


def _unit_state(camera: CameraUnit) -> dict[str, object]:
    return {"identifier": camera.identifier, "active": camera.active, "standalone": camera.standalone}


def camera_unit_deactivate(
    *, actor: User, camera_unit: CameraUnit, reason: str, linked: bool = False
) -> CameraDeactivated:
    """Take a camera unit out of use (Administrator): its live sessions stop and its token is revoked at once, and
    no session starts on it until it is reactivated. `linked`: it is now linked to CCTV, body-worn video or ANPR,
    so it is no longer standalone and cannot be reactivated."""
    require_role(actor, Role.ADMINISTRATOR, action=_("take camera units out of use"))
    reason = _require_reason(reason, _("Say why the camera unit is taken out of use (lost, broken, re-purposed...)."))
    with transaction.atomic():
        # The lock orders this with token issue and rotation, which refuse an inactive unit under the same lock.
        camera = _locked_camera(camera_unit)
        if not camera.active:
            raise InvalidTransition(
                _("Camera %(c)s is already out of use.") % {"c": camera.identifier}, code="camera_inactive"
            )
        before = _unit_state(camera)
        camera.active = False
        camera.standalone = camera.standalone and not linked
        camera.save(update_fields=["active", "standalone"])
        live = list(
            MatchingSession.objects.filter(camera_unit=camera, status=SessionStatus.LIVE).values_list("pk", flat=True)
        )
        audit.record(
            "camera_unit.deactivated",
            actor=actor,
            target=camera,
            before=before,
            after={**_unit_state(camera), "reason": reason, "live_sessions": live},
        )
        # A lost unit's token may be in other hands: it must not work again if the unit is reactivated. A unit
        # returned to use is issued a new token.
        token = CameraToken.objects.filter(camera_unit=camera, revoked_at__isnull=True).first()
        if token is not None:
            CameraToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
                revoked_at=timezone.now(), revoked_by=actor
            )
            token.refresh_from_db()
            audit.record(
                "camera_token.revoked",
                actor=actor,
                target=token,
                before=_payload(token),
                after={"reason": "camera_unit_deactivated"},
            )
        # In this transaction, so the unit is never out of use while one of its sessions is still live.
        taken = _("Camera %(c)s was taken out of use by an Administrator.") % {"c": camera.identifier}
        detail = f"camera_unit: {taken}"
        stopped = tuple(pk for pk in live if session_stop_by_system(pk, StopReason.GATE_FAILED, detail))
    return CameraDeactivated(camera_unit=camera, stopped_sessions=stopped, revoked_token=token)


def camera_unit_reactivate(*, actor: User, camera_unit: CameraUnit, reason: str) -> CameraUnit:
    """Return a standalone camera unit to use (Administrator). Its old token stays revoked: issue a new one."""
    require_role(actor, Role.ADMINISTRATOR, action=_("return camera units to use"))
    reason = _require_reason(reason, _("Say why the camera unit can be used again (found, repaired...)."))
    with transaction.atomic():
        camera = _locked_camera(camera_unit)
        if camera.active:
            raise InvalidTransition(
                _("Camera %(c)s is already in use.") % {"c": camera.identifier}, code="camera_active"
            )
        if not camera.standalone:
            # Bridges and the Met statement: LFR runs on standalone equipment only (domain.md 2.1).
            raise RuleViolation(
                _(
                    "Camera %(c)s is recorded as linked to CCTV, body-worn video or ANPR, so it cannot be used for "
                    "live facial recognition. Register a standalone camera unit instead."
                )
                % {"c": camera.identifier},
                code="camera_not_standalone",
            )
        before = _unit_state(camera)
        camera.active = True
        camera.save(update_fields=["active"])
        audit.record(
            "camera_unit.reactivated",
            actor=actor,
            target=camera,
            before=before,
            after={**_unit_state(camera), "reason": reason},
        )
    return camera


def camera_token_issue(*, actor: User, camera_unit: CameraUnit) -> IssuedToken:
    """Issue the first token of an active camera unit (Administrator); refused while one is active."""
    require_role(actor, Role.ADMINISTRATOR, action=_("issue camera tokens"))
    with transaction.atomic():
        camera = _locked_camera(camera_unit)
        if not camera.active:
            raise RuleViolation(_("Camera %(c)s is not active.") % {"c": camera.identifier}, code="camera_inactive")
        issued = _new_token(actor=actor, camera_unit=camera, now=timezone.now())
        audit.record("camera_token.issued", actor=actor, target=issued.token, after=_payload(issued.token))
    return issued


def camera_token_rotate(*, actor: User, camera_unit: CameraUnit) -> IssuedToken:
    """Revoke the unit's active token and issue a new one in one step (Administrator)."""
    require_role(actor, Role.ADMINISTRATOR, action=_("rotate camera tokens"))
    with transaction.atomic():
        camera = _locked_camera(camera_unit)
        if not camera.active:
            raise RuleViolation(_("Camera %(c)s is not active.") % {"c": camera.identifier}, code="camera_inactive")
        now = timezone.now()
        old = CameraToken.objects.filter(camera_unit=camera, revoked_at__isnull=True).first()
        if old is not None:
            CameraToken.objects.filter(pk=old.pk, revoked_at__isnull=True).update(revoked_at=now, revoked_by=actor)
        issued = _new_token(actor=actor, camera_unit=camera, now=now)
        audit.record(
            "camera_token.rotated",
            actor=actor,
            target=issued.token,
            before=_payload(old) if old else None,
            after=_payload(issued.token),
        )
    return issued


def camera_token_revoke(*, actor: User, camera_unit: CameraUnit) -> CameraToken:
    """Revoke the unit's active token at once (Administrator); the camera can submit nothing more."""
    require_role(actor, Role.ADMINISTRATOR, action=_("revoke camera tokens"))
    with transaction.atomic():
        camera = _locked_camera(camera_unit)
        token = CameraToken.objects.filter(camera_unit=camera, revoked_at__isnull=True).first()
        if token is None:
            raise InvalidTransition(
                _("Camera %(c)s has no active token.") % {"c": camera.identifier}, code="no_active_token"
            )
        now = timezone.now()
        if not CameraToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=now, revoked_by=actor
        ):
            raise InvalidTransition(_("The token was revoked by someone else."), code="already_revoked")
        token.refresh_from_db()
        audit.record("camera_token.revoked", actor=actor, target=token, before=_payload(token))
    return token


@functools.cache
def _authenticate_sql(vendor: str) -> tuple[str, Columns]:
    """The token lookup of every frame POST, as SQL: through the ORM it cost more than the query (rawsql)."""
    t = Columns(CameraToken, "t", ("camera_unit_id", "last_used_at"))
    return (
        f"SELECT {t.sql}, c.{column(CameraUnit, 'identifier')} FROM {table(CameraToken)} t"
        f" JOIN {table(CameraUnit)} c ON c.id = t.camera_unit_id"
        f" WHERE t.key_sha256 = %s AND t.revoked_at IS NULL AND c.{column(CameraUnit, 'active')}",
        t,
    )


def camera_authenticate(secret: str) -> CameraPrincipal | None:
    """The principal for a presented token, or None when it is unknown, revoked or its camera inactive."""
    if not secret or not secret.startswith(TOKEN_PREFIX):
        return None
    sql, t = _authenticate_sql(connection.vendor)
    with rawsql.cursor() as cursor:
        cursor.execute(sql, [token_digest(secret)])
        row = cursor.fetchone()
    if row is None:
        return None
    token, identifier = t.instance(row[: t.width]), row[t.width]
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        CameraToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return CameraPrincipal(camera_unit_id=token.camera_unit_id, identifier=identifier, token_id=token.pk)
