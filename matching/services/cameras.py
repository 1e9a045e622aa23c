"""Camera unit API tokens: the Administrator issues, rotates and revokes them; only a sha256 digest is stored."""

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
from matching.models import CameraToken
from matching.principals import CameraPrincipal

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
