"""Each role's home page makes its next action obvious: what an applicant's authorised deployments still lack for
their gates, the AO's panels in order of urgency, the compiler's lists needing work apart from approved ones; and
the sign-in error tied to both of its fields."""
# ruff: noqa: F811  (fixtures are imported from watchlist_helpers by name)

from __future__ import annotations

import datetime
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from compliance.choices import Rank, Role
from compliance.models import DeploymentWindow, TrainingRecord
from compliance.selectors import deployments as selectors
from compliance.services import deployments as svc
from compliance.services import watchlists as watchlist_services
from tests.a11y import missing_described_by_targets
from tests.compliance import deployment_helpers as h
from tests.compliance.deployment_helpers import watchlist_ok  # noqa: F401  (fixture)
from tests.compliance.watchlist_helpers import budget, cast, enrol, media, photo  # noqa: F401  (fixtures)
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _section(html: str, heading_id: str) -> str:
    """The panel a heading id labels, from its opening tag to its end."""
    match = re.search(rf'<section[^>]*aria-labelledby="{heading_id}".*?</section>', html, re.S)
    assert match, f"no section labelled {heading_id}"
    return match.group(0)


def _home(client: Client) -> str:
    response = client.get(reverse("home"))
    assert response.status_code == 200
    return response.content.decode()


def _make_ready(applicant, deployment, operator) -> None:
    """The team's part done: a trained operator assigned and signage placed now (public notice is in the helper)."""
    svc.deployment_set_assigned_officers(actor=applicant, deployment=deployment, officer_ids=[operator.pk])
    svc.signage_record_add(
        actor=applicant, deployment=deployment, position_description="Both ends", sign_count=2, placed_at=timezone.now()
    )


# --- 1. Applicant ----------------------------------------------------------------------------------------------------


def test_applicant_home_lists_what_an_authorised_deployment_lacks_each_linked_to_where_it_is_fixed(users, client_for):
    applicant, ao = users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER]
    # Notice planned for later today: recorded, but not yet given, so the gate fails now.
    deployment = h.authorised(applicant, ao, public_notice_at=timezone.now() + datetime.timedelta(hours=1))

    panel = _section(_home(client_for(applicant)), "next-applicant")

    assert deployment.reference in panel
    assert "No signage is recorded as in place at the location." in panel
    assert f'href="{reverse("signage_add", args=[deployment.pk])}"' in panel
    assert "No LFR operator is assigned" in panel
    assert f'href="{reverse("deployment_team", args=[deployment.pk])}"' in panel
    assert "No public notice has been given." in panel
    assert f'href="{reverse("deployment_edit", args=[deployment.pk])}#id_public_notice_at"' in panel
    # The watch-list is not the applicant's to fix: it has no entries yet, so it waits for a compiler.
    assert "Waiting for a Watch-list Compiler" in panel
    assert reverse("watchlist_detail", args=[deployment.pk]) not in panel
    assert "Start a new deployment application" in panel


def test_applicant_home_drops_each_item_once_done_and_the_deployment_once_ready(users, client_for, watchlist_ok):
    applicant, ao = users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER]
    ready = h.authorised(applicant, ao, title="Ready one")
    lacking = h.authorised(applicant, ao, title="Lacking one")
    _make_ready(applicant, ready, users[Role.LFR_OPERATOR])
    svc.deployment_set_assigned_officers(actor=applicant, deployment=lacking, officer_ids=[users[Role.LFR_OPERATOR].pk])

    panel = _section(_home(client_for(applicant)), "next-applicant")

    assert ready.reference not in panel
    assert lacking.reference in panel and "No signage is recorded" in panel
    assert "No LFR operator is assigned" not in panel and "public notice" not in panel.lower()


def test_an_assigned_operator_whose_training_lapsed_is_named(users, client_for, watchlist_ok):
    applicant, operator = users[Role.APPLICANT], users[Role.LFR_OPERATOR]
    deployment = h.authorised(applicant, users[Role.AUTHORISING_OFFICER])
    _make_ready(applicant, deployment, operator)
    # Training is checked when officers are assigned; it can lapse afterwards (no service shortens it).
    TrainingRecord.objects.filter(user=operator).update(expires_on=timezone.localdate() - datetime.timedelta(days=1))

    panel = _section(_home(client_for(applicant)), "next-applicant")

    assert "No assigned LFR operator holds current LFR training." in panel
    assert f'href="{reverse("deployment_team", args=[deployment.pk])}"' in panel


def test_a_compiled_watchlist_waits_for_an_authorising_officer(cast, client_for, make_user):
    enrol(cast.compiler, cast.deployment, [("PNC-1.jpg", photo("obama.jpg"))])

    panel = _section(_home(client_for(cast.applicant)), "next-applicant")

    assert cast.deployment.reference in panel
    assert "The watch-list is not approved." in panel and "Waiting for an Authorising Officer" in panel


def test_a_suspended_deployment_waits_for_an_authorising_officer_to_resume_it(users, client_for, watchlist_ok):
    applicant, ao = users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER]
    deployment = h.authorised(applicant, ao)
    _make_ready(applicant, deployment, users[Role.LFR_OPERATOR])
    svc.deployment_suspend(actor=ao, deployment=deployment, reason="Complaint under review")

    panel = _section(_home(client_for(applicant)), "next-applicant")

    assert deployment.reference in panel and "Waiting for an Authorising Officer" in panel


def test_a_deployment_whose_windows_have_all_ended_is_not_listed(users):
    applicant = users[Role.APPLICANT]
    deployment = h.authorised(applicant, users[Role.AUTHORISING_OFFICER])
    end = deployment.windows.get().end

    assert [r.deployment for r in selectors.deployment_readiness(user=applicant).rows] == [deployment]
    assert selectors.deployment_readiness(user=applicant, at=end + datetime.timedelta(minutes=1)).rows == []


def test_others_do_not_see_an_applicants_readiness(users, make_user):
    h.authorised(users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER])
    other = make_user(Role.APPLICANT, username="other-planner")

    assert selectors.deployment_readiness(user=other).rows == []


def test_readiness_checks_a_bounded_number_of_deployments(users, client_for, django_assert_max_num_queries):
    applicant, ao = users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER]
    for i in range(4):
        h.authorised(applicant, ao, title=f"Deployment {i}")

    # The list, then for each deployment checked the gate statement (and, with no watch-list row yet, a look for one).
    with django_assert_max_num_queries(1 + 2 * 2):
        readiness = selectors.deployment_readiness(user=applicant, limit=2)
    assert len(readiness.rows) == 2 and readiness.more

    client = client_for(applicant)
    with CaptureQueriesContext(connection) as few:
        _home(client)
    for i in range(4, 4 + selectors.READINESS_LIMIT):
        h.authorised(applicant, ao, title=f"Deployment {i}")
    with django_assert_max_num_queries(len(few) + 2 * (selectors.READINESS_LIMIT - 4)):
        page = _home(client)
    assert "soonest" in _section(page, "next-applicant")  # says that only some were checked


# --- 2. Authorising Officer ------------------------------------------------------------------------------------------


def test_ao_home_orders_panels_by_urgency_todays_watchlists_first(cast, client_for, budget):
    now = timezone.now()
    live = h.authorised(
        cast.applicant,
        cast.ao,
        title="Live today",
        window_list=[(now - datetime.timedelta(hours=1), now + datetime.timedelta(hours=4))],
        public_notice_at=now - datetime.timedelta(days=2),
    )
    enrol(cast.compiler, live, [("PNC-1.jpg", photo("obama.jpg"))])
    enrol(cast.compiler, cast.deployment, [("PNC-2.png", photo("lin-manuel-miranda.png"))])
    waiting = h.submitted(cast.applicant, title="Awaiting a decision")

    page = _home(client_for(cast.approver))

    order = [page.index(f'id="{heading}"') for heading in ("wl-approve", "awaiting", "live", "review")]
    assert order == sorted(order)
    approvals = _section(page, "wl-approve")
    assert approvals.index(live.reference) < approvals.index(cast.deployment.reference)
    urgent = re.findall(r'<li data-testid="wl-live-today">.*?</li>', approvals, re.S)
    assert len(urgent) == 1 and live.reference in urgent[0] and "Live today" in urgent[0]
    assert waiting.reference in _section(page, "awaiting")
    assert live.reference in _section(page, "live")


def test_ao_below_rank_keeps_the_rank_notes(client_for, make_user):
    inspector = make_user(Role.AUTHORISING_OFFICER, username="insp-ao", rank=Rank.INSPECTOR)

    page = _home(client_for(inspector))

    assert page.count('data-testid="rank-note"') == 2
    assert "Another Authorising Officer decides applications" in _section(page, "awaiting")
    assert "Another Authorising Officer approves watch-lists." in _section(page, "wl-approve")


# --- 3. Watch-list Compiler ------------------------------------------------------------------------------------------


def test_compiler_home_separates_lists_needing_work_from_approved_ones(cast, client_for, budget):
    enrol(cast.compiler, cast.deployment, [("PNC-1.jpg", photo("obama.jpg"))])
    watchlist_services.watchlist_approve(actor=cast.approver, deployment=cast.deployment)
    empty = h.authorised(cast.applicant, cast.ao, title="Not started")
    compiled = h.authorised(cast.applicant, cast.ao, title="Compiled, not approved")
    enrol(cast.compiler, compiled, [("PNC-2.png", photo("lin-manuel-miranda.png"))])
    submitted = h.submitted(cast.applicant, title="Submitted")

    page = _home(client_for(cast.compiler))

    needs_work = _section(page, "wl-compile")
    for deployment in (empty, compiled, submitted):
        assert deployment.reference in needs_work
    assert cast.deployment.reference not in needs_work
    approved = _section(page, "wl-approved")
    assert cast.deployment.reference in approved
    for deployment in (empty, compiled, submitted):
        assert deployment.reference not in approved
    assert page.index('id="wl-compile"') < page.index('id="wl-approved"')
    assert "Watch-lists to compile" in page


# --- 4. Sign-in ------------------------------------------------------------------------------------------------------


def _inputs(html: str) -> dict[str, str]:
    return {name: re.search(rf'<input[^>]*name="{name}"[^>]*>', html).group(0) for name in ("username", "password")}


def test_a_failed_sign_in_ties_one_generic_error_to_both_fields(make_user):
    make_user(Role.APPLICANT, username="planner")

    page = Client().post(reverse("login"), {"username": "planner", "password": "wrong"}).content.decode()

    error_id = re.search(r'<p id="([^"]+)">Your username and password did not match', page).group(1)
    for tag in _inputs(page).values():
        assert 'aria-invalid="true"' in tag and f'aria-describedby="{error_id}"' in tag
    assert missing_described_by_targets(page) == []
    summary = re.search(r'<div class="error-summary"[^>]*>', page).group(0)
    assert 'tabindex="-1"' in summary and 'id="error-summary"' in summary
    assert "autofocus" not in _inputs(page)["username"]  # the summary takes the focus instead
    assert PASSWORD not in page


def test_the_sign_in_page_marks_nothing_invalid_before_a_try():
    page = Client().get(reverse("login")).content.decode()

    for tag in _inputs(page).values():
        assert "aria-invalid" not in tag and "aria-describedby" not in tag
    assert "autofocus" in _inputs(page)["username"] and "error-summary" not in page


def test_ao_watchlist_approvals_come_by_next_window_and_skip_deployments_that_have_ended(cast, client_for, budget):
    """The panel took the 20 most recently created deployments: an older application for tomorrow could fall off
    it behind newer ones for next month, and a deployment whose windows had all ended was still listed."""
    now = timezone.now()
    later = h.authorised(
        cast.applicant, cast.ao, title="In five days",
        window_list=[(now + datetime.timedelta(days=5), now + datetime.timedelta(days=5, hours=4))],
    )  # fmt: skip
    ended = h.authorised(cast.applicant, cast.ao, title="Ended")
    # Its window has passed (the beat would complete it within a minute; the panel must not wait for that).
    DeploymentWindow.objects.filter(deployment=ended).update(
        start=now - datetime.timedelta(hours=6), end=now - datetime.timedelta(hours=5)
    )
    for deployment, image in ((cast.deployment, "obama.jpg"), (later, "lin-manuel-miranda.png"), (ended, "obama.jpg")):
        enrol(cast.compiler, deployment, [("PNC-1.jpg", photo(image))])

    approvals = _section(_home(client_for(cast.approver)), "wl-approve")

    assert approvals.index(cast.deployment.reference) < approvals.index(later.reference)  # created first, sooner
    assert ended.reference not in approvals


def test_ao_watchlist_approvals_cut_after_leaving_out_approved_lists_and_say_so(cast, client_for, budget, monkeypatch):
    """The cut came before approved lists were left out: lists needing approval behind them silently vanished."""
    from compliance.views import watchlists as watchlist_views

    monkeypatch.setattr(watchlist_views, "APPROVALS_SHOWN", 1)
    now = timezone.now()
    second = h.authorised(
        cast.applicant, cast.ao, title="Second",
        window_list=[(now + datetime.timedelta(days=3), now + datetime.timedelta(days=3, hours=4))],
    )  # fmt: skip
    third = h.authorised(
        cast.applicant, cast.ao, title="Third",
        window_list=[(now + datetime.timedelta(days=4), now + datetime.timedelta(days=4, hours=4))],
    )  # fmt: skip
    for deployment in (cast.deployment, second, third):
        enrol(cast.compiler, deployment, [("PNC-1.jpg", photo("obama.jpg"))])
    watchlist_services.watchlist_approve(actor=cast.ao, deployment=cast.deployment)  # the soonest needs nothing

    approvals = _section(_home(client_for(cast.approver)), "wl-approve")

    assert second.reference in approvals and third.reference not in approvals
    assert 'data-testid="wl-more"' in approvals
