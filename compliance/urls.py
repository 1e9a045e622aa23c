from django.urls import path

from compliance.views import accounts

urlpatterns = [
    path("accounts/users/", accounts.user_list_view, name="user_list"),
    path("accounts/users/new/", accounts.user_create_view, name="user_create"),
    path("accounts/users/<int:pk>/", accounts.user_detail_view, name="user_detail"),
]
