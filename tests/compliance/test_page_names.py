"""Page titles, headings and control names that a screen reader user navigates by (WCAG 2.4.2, 2.4.6, 4.1.2)."""
# ruff: noqa: F811  (fixtures are imported from watchlist_helpers by name)

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from tests.compliance.watchlist_helpers import cast, enrol, media, photo  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db


def _title(html: str) -> str:
    return re.search(r"<title>(.*?)</title>", html, re.S).group(1).strip()


def test_a_user_without_a_role_gets_a_home_page_with_a_heading(client):
    user = get_user_model().objects.create_user(username="no-role", password="x" * 16)
    client.force_login(user)

    html = client.get(reverse("home")).content.decode()

    assert re.search(r"<h1>\s*No role assigned\s*</h1>", html)


def test_the_not_found_page_says_so_in_its_title(client):
    response = client.get("/no-such-page/")

    assert response.status_code == 404 and _title(response.content.decode()).startswith("Page not found")


def test_each_remove_control_on_the_watch_list_names_its_entry(cast, client_for):
    enrol(cast.compiler, cast.deployment, [("a.jpg", photo("obama.jpg")), ("b.png", photo("alex-lacamoire.png"))])

    html = client_for(cast.compiler).get(reverse("watchlist_detail", args=[cast.deployment.pk])).content.decode()

    labels = re.findall(r"Reason for removing entry (\d+)", html)
    buttons = re.findall(r'Remove<span class="visually-hidden"> entry (\d+)</span>', html)
    assert len(labels) == 2 and sorted(labels) == sorted(buttons) and len(set(labels)) == 2
