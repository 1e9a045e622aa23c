from django.urls import path

from compliance.api import deployments as deployment_views
from compliance.api import dpo as dpo_views
from compliance.api import views
from compliance.api import watchlists as watchlist_views
from lfr_portal.routers import IdRouter

router = IdRouter()
router.register("users", views.UserViewSet, basename="user")
router.register("appointments", views.AppointmentViewSet, basename="appointment")
router.register("audit-events", views.AuditEventViewSet, basename="audit-event")
router.register("deployments", deployment_views.DeploymentViewSet, basename="deployment")
router.register("transparency", deployment_views.TransparencyViewSet, basename="transparency-record")
router.register("watchlists", watchlist_views.WatchlistViewSet, basename="watchlist")
router.register("evidential-holds", dpo_views.EvidentialHoldViewSet, basename="evidential-hold")
router.register("retention-runs", dpo_views.RetentionRunViewSet, basename="retention-run")
router.register("equality-fields", dpo_views.EqualityFieldViewSet, basename="equality-field")
router.register("enrolment-batches", watchlist_views.EnrolmentBatchViewSet, basename="enrolment-batch")
router.register("watchlist-entries", watchlist_views.WatchlistEntryViewSet, basename="watchlist-entry")
router.register("reference-images", watchlist_views.ReferenceImageViewSet, basename="reference-image")

urlpatterns = [path("me/", views.MeView.as_view(), name="api-me"), *router.urls]
urlpatterns += [
    path("retention-policies/", dpo_views.RetentionPolicyView.as_view(), name="api-retention-policies"),
    path("audit/verify/", dpo_views.AuditVerifyView.as_view(), name="api-audit-verify"),
    path("audit/export.csv", dpo_views.AuditExportView.as_view(), name="api-audit-export"),
    path("deployments/<int:pk>/audit-pack/", dpo_views.AuditPackView.as_view(), name="api-audit-pack"),
]
