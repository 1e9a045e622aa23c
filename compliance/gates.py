"""The six gates of domain.md 2.3, as one function the matching worker calls at session start and for every frame.

The watch-list gate belongs to the watch-list app, which registers it with `register_watchlist_gate`; until it
does, the gate fails closed ("No approved watch-list").
"""

from __future__ import annotations

import datetime
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, models
from django.utils.translation import gettext as _

from compliance.choices import DeploymentStatus, Role
from compliance.models import Deployment, SignageRecord, TrainingRecord
from compliance.models.deployments import first_start, window_containing
from lfr_portal import rawsql
from lfr_portal.rawsql import Columns, adapt_date, adapt_datetime, column, table

logger = logging.getLogger(__name__)

WatchlistGate = Callable[[Deployment, datetime.datetime], tuple[bool, str]]
_watchlist_gate: list[WatchlistGate] = []

GATE_NAMES = ("authorisation", "window", "watchlist", "signage", "public_notice", "operator")


ExtraGate = Callable[[Deployment, datetime.datetime], "tuple[str, str, bool, str] | None"]
_extra_gates: list[ExtraGate] = []


# The class half of the two-key advisory lock on a deployment's authorisation ("LF"); the deployment id is the other.
AUTHORISATION_LOCK_CLASS = 0x4C46


def hold_authorisation(deployment_id: int, *, exclusive: bool) -> None:
    """Hold a deployment's authorisation until the transaction ends (PostgreSQL; SQLite locks the whole database).

    A worker writing an alert holds it shared from before its last gate check until the alert commits; a
    transition out of `authorised` (suspend, revoke, void, complete, cancel) holds it exclusively, after the
    deployment row. So the transition either commits before the worker's check or waits for its alert rows. An
    advisory lock, unlike a `FOR SHARE` row lock, queues fairly: new alerts wait behind a pending suspension
    instead of holding it off for as long as a watched person stays in view."""
    if connection.vendor != "postgresql":
        return
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {function}(%s, %s)", [AUTHORISATION_LOCK_CLASS, int(deployment_id)])


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


GATE_FIELDS = {
    "deployment": (
        *("reference", "title", "status", "authorisation_id", "authorised_at"),
        *("public_notice_at", "critical_threat_justification"),
        *("match_threshold", "alert_policy", "alert_margin"),  # the frame's alert policy
    ),
    "authorisation": ("deployment_id", "decision", "decided_at", "expires_at", "voided_at"),
    "watchlist": ("deployment_id", "status", "version", "approved_at", "approved_version", "content_hash"),
}
GATE_OPERATOR_FIELDS = ("username", "is_active", "role")  # what gate 6 reads of the operator


@dataclass(frozen=True)
class Anchor:
    """A row that names a deployment and the operator the gates are checked for (a matching session): the gate
    statement can then start from that row, so the caller reads it and the gates in one statement."""

    model: type[models.Model]
    columns: tuple[str, ...]  # what the caller reads of the row, besides its primary key
    deployment: str = "deployment_id"
    operator: str = "started_by_id"


@functools.cache
def _statement(vendor: str, anchor: Anchor | None = None) -> tuple[str, list[Columns]]:
    """The one statement of a gate check for this database vendor, built once per process from the models: a row
    per window (deployments have a handful), each carrying the same facts. With an anchor, it starts from the
    anchor's row (`WHERE r.id = %s`) and reads that row and its operator too; without, it
    starts from the deployment (`WHERE d.id = %s`) and the operator is a parameter."""
    from compliance.models import Authorisation, DeploymentWindow, User, Watchlist

    # Only what the gates and the frame path read: the application's long texts and the authorisation's snapshot
    # (a JSON copy of the whole application) would otherwise be read and decoded for every frame. Any other field
    # is still there when asked for, loaded on first use (as with `.only()`).
    parts = [
        Columns(Deployment, "d", GATE_FIELDS["deployment"]),
        Columns(Authorisation, "a", GATE_FIELDS["authorisation"]),
        Columns(Watchlist, "w", GATE_FIELDS["watchlist"]),
        Columns(DeploymentWindow, "x"),
    ]
    source = f"{table(Deployment)} d"
    operator, where = "%s", "d.id = %s"
    if anchor is not None:
        parts += [Columns(anchor.model, "r", anchor.columns), Columns(User, "u", GATE_OPERATOR_FIELDS)]
        operator = f"r.{column(anchor.model, anchor.operator)}"
        source = (
            f"{table(anchor.model)} r JOIN {table(Deployment)} d ON d.id = r.{column(anchor.model, anchor.deployment)}"
            f" LEFT JOIN {table(User)} u ON u.id = {operator}"
        )
        where = "r.id = %s"
    d, a, w, x = parts[:4]
    assigned = table(Deployment.assigned_officers.through)
    extra = "".join(f", {c.sql}" for c in parts[4:])
    sql = f"""
        SELECT {d.sql}, {a.sql}, {w.sql},
            (SELECT COUNT(*) FROM {table(SignageRecord)} s
              WHERE s.deployment_id = d.id AND s.placed_at <= %s AND (s.removed_at IS NULL OR s.removed_at > %s)),
            EXISTS (SELECT 1 FROM {assigned} o WHERE o.deployment_id = d.id AND o.user_id = {operator}),
            EXISTS (SELECT 1 FROM {table(TrainingRecord)} t
                     WHERE t.user_id = {operator} AND t.completed_on <= %s AND t.expires_on >= %s),
            {x.sql}{extra}
        FROM {source}
        LEFT JOIN {table(Authorisation)} a ON a.id = d.authorisation_id
        LEFT JOIN {table(Watchlist)} w ON w.deployment_id = d.id
        LEFT JOIN {table(DeploymentWindow)} x ON x.deployment_id = d.id
        WHERE {where}
        ORDER BY x.{column(DeploymentWindow, "start")}, x.id"""
    # Never `FOR UPDATE` here: a statement that waits for a row lock re-reads only the locked row, and every other
    # fact would come from before the wait (a suspension committed meanwhile would go unseen). Lock first, then
    # run this as a new statement.
    return sql, parts


def _rows(anchor: Anchor | None, pk: int, at: datetime.datetime, operator_id: int | None) -> tuple[list, list[Columns]]:
    """Run the gate statement for `pk` (a deployment, or the anchor's row) at `at`: its rows and their columns."""
    sql, parts = _statement(connection.vendor, anchor)
    when, day = adapt_datetime(at), adapt_date(TrainingRecord.day_of(at))
    operator = [] if anchor is not None else [operator_id]  # anchored, the operator comes from the row itself
    with rawsql.cursor() as cursor:
        cursor.execute(sql, [when, when, *operator, *operator, day, day, pk])
        return cursor.fetchall(), parts


def _loaded(rows: list[Any], parts: list[Columns]) -> Deployment:
    d, a, w, x = parts[:4]
    row = rows[0]
    i = 0
    loaded = d.instance(row[i : i + d.width])
    i += d.width
    loaded.authorisation = a.instance(row[i : i + a.width])
    i += a.width
    loaded.watchlist = w.instance(row[i : i + w.width])
    i += w.width
    signage, assigned, trained = row[i : i + 3]
    i += 3
    loaded.gate_signage_in_place = int(signage)
    loaded.gate_operator_assigned = bool(assigned)
    loaded.gate_operator_trained = bool(trained)
    # No window gives one row whose window columns are all NULL (the LEFT JOIN).
    loaded.gate_windows = [window for r in rows if (window := x.instance(r[i : i + x.width])) is not None]
    loaded._loaded_for_gates = True
    return loaded


def _load(deployment: Deployment | int, at: datetime.datetime, operator: Any | None) -> Deployment:
    """The deployment with everything the gates read, fresh from the database (a suspension or revocation must
    stop the very next frame): the row with its authorisation, watch-list, windows, signage in place, and the
    operator's assignment and training at `at`, in one statement.

    Session start, the beat and the pages call this; the worker's per-frame check is `anchored_gates`, the same
    statement started from the session. It is SQL because the worker runs it for every frame: the same reads
    through the ORM cost about 4 ms of Python per check (docs/benchmarks.md). tests/compliance exercise every gate
    through it on SQLite and PostgreSQL."""
    pk = deployment.pk if isinstance(deployment, Deployment) else deployment
    rows, parts = _rows(None, pk, at, operator.pk if operator is not None else None)
    if not rows:
        raise Deployment.DoesNotExist(f"Deployment {pk} does not exist.")
    return _loaded(rows, parts)


def anchored_gates(anchor: Anchor, pk: int, *, at: datetime.datetime) -> tuple[models.Model, GateReport] | None:
    """The anchor's row (with its operator as `<operator field without _id>`, holding only what gate 6 reads) and
    the gates for its deployment and operator at `at`, from one statement; None when there is no such row. A
    caller that needs the row locked locks it before calling this, not with it (see `_statement`)."""
    rows, parts = _rows(anchor, pk, at, None)
    if not rows:
        return None
    loaded = _loaded(rows, parts)
    r, u = parts[4:]
    start = len(rows[0]) - r.width - u.width
    row = r.instance(rows[0][start : start + r.width])
    operator = u.instance(rows[0][start + r.width :])
    if operator is None:  # gate 6 must fail, never go unevaluated, if the row names no operator
        from django.contrib.auth.models import AnonymousUser

        operator = AnonymousUser()
    setattr(row, anchor.operator.removesuffix("_id"), operator)
    return row, _evaluate(loaded, at, operator)


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
    window = window_containing(deployment.gate_windows, at)
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
    first = first_start(deployment.gate_windows)
    lead = datetime.timedelta(hours=settings.LFR_PUBLIC_NOTICE_HOURS)
    if first is not None and notice_at > first - lead:
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
    return _evaluate(_load(deployment, at, operator), at, operator)


def _evaluate(loaded: Deployment, at: datetime.datetime, operator: Any | None) -> GateReport:
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
