from django.urls import path

from matching.views import calibration

urlpatterns = [
    path("calibration/", calibration.calibration_list_view, name="calibration_list"),
    path("calibration/budget/", calibration.alert_budget_view, name="alert_budget"),
    path("calibration/<int:pk>/", calibration.calibration_detail_view, name="calibration_detail"),
    path("calibration/<int:pk>/plot.png", calibration.calibration_plot_view, name="calibration_plot"),
    path("calibration/<int:pk>/approve/", calibration.calibration_approve_view, name="calibration_approve"),
    path("calibration/<int:pk>/retire/", calibration.calibration_retire_view, name="calibration_retire"),
]

from matching.views import live  # noqa: E402  (live matching pages)

urlpatterns += [
    path("sessions/", live.session_list_view, name="session_list"),
    path("sessions/start/", live.session_start_view, name="session_start"),
    path("sessions/<int:pk>/console/", live.session_console_view, name="session_console"),
    path("sessions/<int:pk>/console/alerts/", live.session_console_alerts_view, name="session_console_alerts"),
    path("sessions/<int:pk>/stop/", live.session_stop_view, name="session_stop"),
    path("alerts/<int:pk>/probe.jpg", live.alert_probe_view, name="alert_probe"),
    path("alerts/<int:pk>/reference", live.alert_reference_view, name="alert_reference"),
    path("alerts/<int:pk>/adjudicate/", live.alert_adjudicate_view, name="alert_adjudicate"),
    path("operations/", live.operations_view, name="operations"),
]

from matching import demo  # noqa: E402

urlpatterns += [path("sessions/<int:pk>/demo-stream/", demo.demo_stream_view, name="demo_stream")]

from matching.views import cameras  # noqa: E402  (camera units and their tokens, for the Administrator)

urlpatterns += [
    path("cameras/", cameras.camera_list_view, name="camera_list"),
    path("cameras/<int:pk>/token/issue/", cameras.camera_token_issue_view, name="camera_token_issue"),
    path("cameras/<int:pk>/token/rotate/", cameras.camera_token_rotate_view, name="camera_token_rotate"),
    path("cameras/<int:pk>/token/revoke/", cameras.camera_token_revoke_view, name="camera_token_revoke"),
    path("cameras/<int:pk>/deactivate/", cameras.camera_deactivate_view, name="camera_deactivate"),
    path("cameras/<int:pk>/reactivate/", cameras.camera_reactivate_view, name="camera_reactivate"),
]
