"""Admin: accounts are managed through services in the portal; the audit log is read-only here."""

from typing import Any

from django.contrib import admin

from compliance.models import AuditEvent


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
