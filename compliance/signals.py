"""Sign-in, sign-out, failed sign-in and lock-out are audited from the auth framework's own signals.

These events have no service of ours to write them (Django and django-axes own the login flow), so the receivers
call the audit writer directly, each in its own transaction (a savepoint of the change's transaction when it has
one). User API tokens are issued and revoked by services (compliance.services.accounts), which audit them.
"""

from __future__ import annotations

from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from compliance import audit


def _client(request: Any) -> dict[str, str]:
    if request is None:
        return {}
    return {"ip": request.META.get("REMOTE_ADDR", ""), "user_agent": request.META.get("HTTP_USER_AGENT", "")[:200]}


@receiver(user_logged_in)
def audit_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit.record_now("auth.login", actor=user, target=user, after=_client(request))


@receiver(user_logged_out)
def audit_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        audit.record_now("auth.logout", actor=user, target=user, after=_client(request))


@receiver(user_login_failed)
def audit_login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    username = str(credentials.get("username", ""))[:150]
    user = get_user_model().objects.filter(username=username).first()
    audit.record_now(
        "auth.login_failed",
        actor=None,
        target_type="compliance.user",
        target_id=user.pk if user else "",
        after={"username": username, **_client(request)},
    )


@receiver(user_locked_out)
def audit_locked_out(
    sender: Any, request: Any, username: str | None = None, ip_address: str = "", **kwargs: Any
) -> None:
    user = get_user_model().objects.filter(username=username or "").first()
    audit.record_now(
        "auth.locked_out",
        actor=None,
        target_type="compliance.user",
        target_id=user.pk if user else "",
        after={"username": username or "", **_client(request)},
    )
