"""System checks for settings that only fail at run time: a task allowed to outlive the broker's visibility timeout,
and role lists naming roles that do not exist."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.checks import Error, Warning, register


@register("celery")
def task_time_limits_below_visibility_timeout(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """Redis redelivers a task still running after the visibility timeout: every time limit must stay below it."""
    if not settings.CELERY_BROKER_URL.startswith(("redis", "rediss")):
        return []
    from lfr_portal.celery import app

    # Import the apps' task modules directly: the loader's import hook runs these checks again (recursion).
    for config in apps.get_app_configs():
        if importlib.util.find_spec(f"{config.name}.tasks") is not None:
            importlib.import_module(f"{config.name}.tasks")
    timeout = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    errors = []
    for name, task in sorted(app.tasks.items()):
        limit = getattr(task, "time_limit", None)
        if limit is not None and limit >= timeout:
            errors.append(
                Error(
                    f"Task {name} may run for {limit} s, not below the broker's visibility timeout ({timeout} s).",
                    hint="Raise LFR_VISIBILITY_TIMEOUT or lower the task's time limit; otherwise Redis redelivers it "
                    "while it is still running.",
                    id="lfr.E001",
                )
            )
    return errors


@register("security")
def role_settings_name_known_roles(app_configs: Any = None, **kwargs: Any) -> list[Error | Warning]:
    """A misspelt role in LFR_APPROVED_ROLES or LFR_SECOND_FACTOR_ROLES would silently switch its rule off."""
    from compliance.choices import Role

    errors = []
    for name in ("LFR_APPROVED_ROLES", "LFR_SECOND_FACTOR_ROLES"):
        unknown = sorted(set(getattr(settings, name)) - set(Role.values))
        if unknown:
            errors.append(
                Error(
                    f"{name} names roles that do not exist: {', '.join(unknown)}.",
                    hint=f"Use role codes from: {', '.join(Role.values)}.",
                    id="lfr.E002",
                )
            )
    # domain.md 1: "Authorising officers and DPOs sign in with a second factor": a force may add roles, not drop these.
    dropped = sorted({Role.AUTHORISING_OFFICER, Role.DPO} - set(settings.LFR_SECOND_FACTOR_ROLES))
    if dropped:
        errors.append(
            Error(
                f"LFR_SECOND_FACTOR_ROLES leaves out {', '.join(dropped)}: they must sign in with a second factor.",
                hint="Add them back; the setting may only add roles to authorising_officer and dpo.",
                id="lfr.E003",
            )
        )
    if Role.ADMINISTRATOR not in settings.LFR_APPROVED_ROLES:
        errors.append(
            Warning(
                "LFR_APPROVED_ROLES leaves out administrator: one Administrator can make another alone, and with "
                "two accounts approve their own proposals.",
                hint="Keep administrator in LFR_APPROVED_ROLES unless the force appoints Administrators elsewhere.",
                id="lfr.W004",
            )
        )
    return errors
