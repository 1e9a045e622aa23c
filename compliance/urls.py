from django.urls import include, path

from compliance.views import accounts, deployments, eu_ai_act, signage_photos, transparency
from compliance.views import watchlists as watchlist_views

urlpatterns = [
    path("accounts/profile/", accounts.profile_view, name="profile"),
    path("accounts/users/", accounts.user_list_view, name="user_list"),
    path("accounts/users/new/", accounts.user_create_view, name="user_create"),
    path("accounts/users/<int:pk>/", accounts.user_detail_view, name="user_detail"),
    path(
        "accounts/users/<int:pk>/appointment/<str:decision>/",
        accounts.appointment_decide_view,
        name="appointment_decide",
    ),
    path("deployments/", deployments.deployment_list_view, name="deployment_list"),
    path("deployments/new/", deployments.deployment_create_view, name="deployment_create"),
    path("deployments/<int:pk>/", deployments.deployment_detail_view, name="deployment_detail"),
    path("deployments/<int:pk>/edit/", deployments.deployment_edit_view, name="deployment_edit"),
    path("deployments/<int:pk>/submit/", deployments.deployment_submit_view, name="deployment_submit"),
    path("deployments/<int:pk>/decide/", deployments.deployment_decide_view, name="deployment_decide"),
    path("deployments/<int:pk>/review/", deployments.deployment_review_view, name="deployment_review"),
    path("deployments/<int:pk>/team/", deployments.deployment_team_view, name="deployment_team"),
    path("deployments/<int:pk>/signage/new/", deployments.signage_form_view, name="signage_add"),
    path("deployments/<int:pk>/signage/<int:record_pk>/", deployments.signage_form_view, name="signage_edit"),
    path(
        "deployments/<int:pk>/signage/<int:record_pk>/photo/", signage_photos.signage_photo_view, name="signage_photo"
    ),
    path("deployments/<int:pk>/leaflets/new/", deployments.leaflet_form_view, name="leaflet_add"),
    path("deployments/<int:pk>/leaflets/<int:record_pk>/", deployments.leaflet_form_view, name="leaflet_edit"),
    path(
        "deployments/<int:pk>/authorisation.pdf",
        deployments.authorisation_pdf_view,
        name="deployment_authorisation_pdf",
    ),
    path("deployments/<int:pk>/record.pdf", deployments.record_pdf_view, name="deployment_record_pdf"),
    path("deployments/<int:pk>/eu/record/", eu_ai_act.eu_record_view, name="eu_record"),
    path("deployments/<int:pk>/eu/authority/", eu_ai_act.eu_authority_decision_view, name="eu_authority_decision"),
    path("deployments/<int:pk>/eu/notifications/", eu_ai_act.eu_notifications_view, name="eu_notifications"),
    path("deployments/<int:pk>/<slug:action>/", deployments.deployment_action_view, name="deployment_action"),
    path("dpo/", include("compliance.urls_dpo")),
    path("watchlists/", watchlist_views.watchlist_index, name="watchlist_index"),
    path("watchlists/<int:pk>/", watchlist_views.watchlist_detail, name="watchlist_detail"),
    path("watchlists/batches/<int:pk>/", watchlist_views.batch_detail, name="watchlist_batch"),
    path("watchlists/batches/<int:pk>/progress/", watchlist_views.batch_progress, name="watchlist_batch_progress"),
    path("watchlists/entries/<int:pk>/edit/", watchlist_views.entry_edit, name="watchlist_entry_edit"),
    path("watchlists/entries/<int:pk>/remove/", watchlist_views.entry_remove, name="watchlist_entry_remove"),
    path("transparency/", transparency.transparency_index, name="transparency"),
    path("transparency/deployment-records.csv", transparency.transparency_csv, name="transparency_csv"),
    path("transparency/<str:reference>/", transparency.transparency_detail, name="transparency_detail"),
]
