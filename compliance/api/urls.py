from django.urls import path
from rest_framework.routers import SimpleRouter

from compliance.api import views

router = SimpleRouter()
router.register("users", views.UserViewSet, basename="user")
router.register("audit-events", views.AuditEventViewSet, basename="audit-event")

urlpatterns = [path("me/", views.MeView.as_view(), name="api-me"), *router.urls]
