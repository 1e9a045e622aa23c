from django.urls import path

from lfr_portal.routers import IdRouter
from matching.api import calibration_views, views

router = IdRouter()
router.register("sessions", views.SessionViewSet, basename="session")
router.register("alerts", views.AlertViewSet, basename="alert")
router.register("camera-units", views.CameraUnitViewSet, basename="camera-unit")
router.register("calibration-records", calibration_views.CalibrationRecordViewSet, basename="calibration-record")

urlpatterns = [
    path("sessions/<int:pk>/frames/", views.FrameSubmitView.as_view(), name="session-frames"),
    path("alert-budget/", calibration_views.AlertBudgetView.as_view(), name="api-alert-budget"),
    path("expected-performance/", calibration_views.ExpectedPerformanceView.as_view(), name="api-expected-performance"),
    *router.urls,
]
