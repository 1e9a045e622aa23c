"""Each role's home page: what needs doing next, first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from compliance.choices import Role
from compliance.selectors.accounts import pending_appointment

# Other modules register a function per role that adds panels to that role's home page.
HOME_PANELS: dict[str, list[Callable[[Any], dict[str, Any]]]] = {role: [] for role in Role.values}


def register_home_panel(*roles: str) -> Callable[[Callable[[Any], dict[str, Any]]], Callable[[Any], dict[str, Any]]]:
    def decorator(func: Callable[[Any], dict[str, Any]]) -> Callable[[Any], dict[str, Any]]:
        for role in roles:
            HOME_PANELS[role].append(func)
        return func

    return decorator


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    context: dict[str, Any] = {"role_label": Role(user.role).label if user.role else ""}
    for panel in HOME_PANELS.get(user.role, []):
        context.update(panel(user))
    if user.role not in Role.values:
        context["pending_appointment"] = pending_appointment(user=user)
    template = f"home/{user.role}.html" if user.role in Role.values else "home/none.html"
    return render(request, template, context)
