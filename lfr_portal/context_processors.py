"""Template context shared by every page."""

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def portal(request: HttpRequest) -> dict[str, Any]:
    return {
        "force_name": settings.LFR_FORCE_NAME,
        "jurisdiction": settings.LFR_JURISDICTION,
        "debug_banner": settings.DEBUG,
    }
