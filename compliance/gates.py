"""The six gates of domain.md 2.3, as one function the matching worker calls at session start and for every frame.

The watch-list gate belongs to the watch-list app, which registers it with `register_watchlist_gate`; until it
does, the gate fails closed ("No approved watch-list").
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from compliance.choices import DeploymentStatus, Role
from compliance.models import Deployment, SignageRecord, TrainingRecord

logger = logging.getLogger(__name__)

WatchlistGate = Callable[[Deployment, datetime.datetime], tuple[bool, str]]
_watchlist_gate: list[WatchlistGate] = []

GATE_NAMES = ("authorisation", "window", "watchlist", "signage", "public_notice", "operator")


ExtraGate = Callable[[Deployment, datetime.datetime], "tuple[str, str, bool, str] | None"]
_extra_gates: list[ExtraGate] = []


def register_extra_gate(func: ExtraGate) -> ExtraGate:
    """Add a jurisdiction gate `func(deployment, at) -> (name, label, passed, reason)`, or None when it does not
    apply; evaluated after the six gates. Registering the same function twice is harmless."""
    if func not in _extra_gates:
        _extra_gates.append(func)
    return func


def register_watchlist_gate(func: WatchlistGate) -> WatchlistGate:
    """Install the watch-list check `func(deployment, at) -> (passed, reason)`; the last one registered wins."""
    _watchlist_gate[:] = [func]
    return func


@dataclass(frozen=True)
class Gate:
    name: str
    label: str
    passed: bool
    reason: str


@dataclass(frozen=True)
class GateReport:
    """Every gate in order with its verdict; `passed` only when all six hold."""

    gates: list[Gate] = field(default_factory=list)
    # The deployment as loaded for this check, so the per-frame caller need not query it again.
    deployment: Deployment | None = field(default=None, compare=False, repr=False)

    @property
    def passed(self) -> bool:
        return all(gate.passed for gate in self.gates)

    @property
    def first_failure(self) -> Gate | None:
        return next((gate for gate in self.gates if not gate.passed), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "gates": [{"name": g.name, "label": g.label, "passed": g.passed, "reason": g.reason} for g in self.gates],
        }


def _load(deployment: Deployment | int, at: datetime.datetime, operator: Any | None) -> Deployment:
    """The deployment with everything the gates read, fresh from the database: two queries (the row with its
    authorisation, watch-list and the signage and operator facts at `at`, then its windows). The worker runs this
    for every frame, so it is kept to what the gates need."""
    pk = deployment.pk if isinstance(deployment, Deployment) else deployment
    signage_in_place = (
        SignageRecord.objects.filter(deployment=OuterRef("pk"), placed_at__lte=at)
        .filter(Q(removed_at__isnull=True) | Q(removed_at__gt=at))
        .order_by()
        .values("deployment")
        .annotate(n=Count("pk"))
        .values("n")
    )
    # Always re-read: a suspension or revocation must stop the very next frame.
    query = (
        Deployment.objects.select_related("authorisation", "watchlist")
        .prefetch_related("windows")
        .annotate(gate_signage_in_place=Coalesce(Subquery(signage_in_place), 0))
    )
    if operator is not None:
        query = query.annotate(
            gate_operator_assigned=Exists(
                Deployment.assigned_officers.through.objects.filter(deployment_id=OuterRef("pk"), user_id=operator.pk)
            ),
            gate_operator_trained=Exists(
                TrainingRecord.objects.filter(TrainingRecord.valid_at(at), user_id=operator.pk)
            ),
        )
    loaded = query.get(pk=pk)
    loaded._loaded_for_gates = True
    return loaded


def loaded_for_gates(deployment: Deployment) -> bool:
    """Whether `deployment` was just loaded by a gate check, with its watch-list row (so that row is fresh)."""
    return getattr(deployment, "_loaded_for_gates", False)


def _authorisation_gate(deployment: Deployment, at: datetime.datetime) -> tuple[bool, str]:
    if deployment.status != DeploymentStatus.AUTHORISED:
        return False, _("The deployment is %(status)s, not authorised.") % {
            "status": DeploymentStatus(deployment.status).label
        }
    authorisation = deployment.authorisation
    if authorisation is None or authorisation.is_void:
        return False, _("There is no authorisation in force.")
    if at < authorisation.decided_at:
        return False, _("The authorisation was not yet given at this time.")
    if authorisation.expires_at is None or at >= authorisation.expires_at:
        return False, _("The authorisation expired.")
    return True, _("Authorised until %(t)s.") % {"t": authorisation.expires_at.isoformat(timespec="minutes")}


def _window_gate(deployment: Deployment, at: datetime.datetime) -> tuple[bool, str]:
    window = deployment.window_at(at)
    if window is None:
        return False, _("Now is outside every authorised time window.")
    return True, _("Inside window %(w)s.") % {"w": str(window)}


def _watchlist(deployment: Deployment, at: datetime.datetime) -> tuple[bool, str]:
    if not _watchlist_gate:
        return False, _("No approved watch-list")
    try:
        passed, reason = _watchlist_gate[0](deployment, at)
    except Exception:  # noqa: BLE001 - a broken check must fail closed, never open
        logger.exception("Watch-list gate raised for deployment %s", deployment.pk)
        return False, _("The watch-list could not be checked.")
    return bool(passed), str(reason)


def _signage_gate(deployment: Deployment, at: datetime.datetime) -> tuple[bool, str]:
    in_place = deployment.gate_signage_in_place
    if not in_place:
        return False, _("No signage is recorded as in place at the location.")
    return True, _("%(n)s signage record(s) in place.") % {"n": in_place}


def _public_notice_gate(deployment: Deployment, at: datetime.datetime) -> tuple[bool, str]:
    notice_at = deployment.public_notice_at
    if notice_at is None or notice_at > at:
        return False, _("No public notice has been given.")
    first_start = deployment.first_window_start
    lead = datetime.timedelta(hours=settings.LFR_PUBLIC_NOTICE_HOURS)
    if first_start is not None and notice_at > first_start - lead:
        if deployment.critical_threat_justification.strip():
            return True, _("Late notice under a recorded critical-threat justification.")
        return False, _("Public notice was given less than %(h)s hours before the first window.") % {
            "h": settings.LFR_PUBLIC_NOTICE_HOURS
        }
    return True, _("Public notice given.")


def _operator_gate(deployment: Deployment, at: datetime.datetime, operator: Any) -> tuple[bool, str]:
    if operator is None:
        return True, _("No operator given: not evaluated.")
    if not (getattr(operator, "is_active", False) and operator.role == Role.LFR_OPERATOR):
        return False, _("%(u)s is not an active LFR operator.") % {"u": operator.get_username()}
    if not deployment.gate_operator_assigned:
        return False, _("%(u)s is not assigned to this deployment.") % {"u": operator.get_username()}
    if not deployment.gate_operator_trained:
        return False, _("%(u)s does not hold current LFR training.") % {"u": operator.get_username()}
    return True, _("%(u)s is trained and assigned.") % {"u": operator.get_username()}


def deployment_gates(deployment: Deployment | int, *, at: datetime.datetime, operator: Any | None = None) -> GateReport:
    """Evaluate all six gates at `at` (domain.md 2.3). The worker passes the operator who started the session, so
    gate 6 holds per frame too; without an operator (a deployment page's preview) gate 6 is not evaluated."""
    loaded = _load(deployment, at, operator)
    checks = (
        ("authorisation", _("Deployment authorised"), _authorisation_gate(loaded, at)),
        ("window", _("Inside a time window"), _window_gate(loaded, at)),
        ("watchlist", _("Approved watch-list"), _watchlist(loaded, at)),
        ("signage", _("Signage in place"), _signage_gate(loaded, at)),
        ("public_notice", _("Public notice given"), _public_notice_gate(loaded, at)),
        ("operator", _("Operator trained and assigned"), _operator_gate(loaded, at, operator)),
    )
    gates = [Gate(name, str(label), passed, reason) for name, label, (passed, reason) in checks]
    for extra in list(_extra_gates):
        try:
            result = extra(loaded, at)
        except Exception:  # noqa: BLE001 - a broken check must fail closed, never open
            logger.exception("Extra gate %r raised for deployment %s", extra, loaded.pk)
            result = ("extra", _("Jurisdiction gate"), False, _("A jurisdiction gate could not be checked."))
        if result is not None:
            gates.append(Gate(result[0], str(result[1]), bool(result[2]), str(result[3])))
    return GateReport(gates=gates, deployment=loaded)
