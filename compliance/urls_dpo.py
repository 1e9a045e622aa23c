"""The DPO workspace pages, mounted at /dpo/."""

from django.urls import path

from compliance.views import dpo

urlpatterns = [
    path("", dpo.dashboard, name="dpo_dashboard"),
    path("audit/", dpo.audit_log, name="dpo_audit_log"),
    path("audit/verify/", dpo.verify_chain, name="dpo_verify_chain"),
    path("retention/", dpo.retention, name="dpo_retention"),
    path("holds/", dpo.holds, name="dpo_holds"),
    path("holds/<int:pk>/lift/", dpo.hold_lift, name="dpo_hold_lift"),
    path("deployments/<int:pk>/audit-pack.pdf", dpo.audit_pack, name="dpo_audit_pack"),
    path("equality/", dpo.equality, name="dpo_equality"),
]
