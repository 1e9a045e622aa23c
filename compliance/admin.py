"""Admin: accounts are managed through services in the portal; the audit log is read-only here.

Credentials are not managed here: knox's user API tokens and django-otp's TOTP devices are taken off the admin
site (their admin modules are imported first, so that this works whatever the order of INSTALLED_APPS). User
tokens are issued with `manage.py api_token`, audited as `api_token.issued` / `api_token.revoked`.
"""

from typing import Any

import django_otp.plugins.otp_totp.admin  # noqa: F401  (registers TOTPDevice, unregistered below)
import knox.admin  # noqa: F401  (registers AuthToken, unregistered below)
from django.contrib import admin
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox.models import AuthToken

from compliance.models import AuditEvent

admin.site.unregister(AuthToken)
admin.site.unregister(TOTPDevice)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("seq", "at", "actor_username", "actor_role", "action", "target_type", "target_id")
    list_filter = ("action", "actor_role")
    search_fields = ("actor_username", "action", "target_id", "request_id")

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def get_actions(self, request: Any) -> dict:
        return {}
