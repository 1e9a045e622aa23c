"""Two API holes: destroying a live deployment's watch-list by hand, and reading another officer's gate 6 status."""
# ruff: noqa: F811  (fixtures are imported from watchlist_helpers by name)

from __future__ import annotations

import pytest

from compliance.choices import Role
from compliance.models import AuditEvent, Watchlist, WatchlistEntry
from compliance.models.watchlists import WatchlistStatus
from compliance.services import deployments as deployment_services
from compliance.services import watchlists as watchlist_services
from lfr_portal.errors import InvalidTransition
from tests.compliance import deployment_helpers
from tests.compliance.watchlist_helpers import budget, cast, enrol, media, photo  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db


# --- (a) manual destruction only once the deployment has ended ---------------------------------------------------


@pytest.fixture
def enrolled(cast, budget):
    enrol(cast.compiler, cast.deployment, [("PNC-1.jpg", photo("obama.jpg"))])
    watchlist_services.watchlist_approve(actor=cast.approver, deployment=cast.deployment)
    return cast


def _destroy(api_for, user, deployment):
    return api_for(user).post(f"/api/v1/watchlists/{deployment.pk}/destroy/", {"reason": "Tidy up."}, format="json")


@pytest.mark.parametrize("state", ["authorised", "suspended"])
def test_a_live_deployments_watchlist_cannot_be_destroyed_by_hand(enrolled, api_for, state):
    if state == "suspended":
        deployment_services.deployment_suspend(actor=enrolled.ao, deployment=enrolled.deployment, reason="Check.")

    response = _destroy(api_for, enrolled.dpo, enrolled.deployment)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "deployment_not_ended"
    assert Watchlist.objects.get(deployment=enrolled.deployment).status == WatchlistStatus.APPROVED
    assert WatchlistEntry.objects.count() == 1
    assert not AuditEvent.objects.filter(action="watchlist.destroyed").exists()


def test_the_service_refuses_it_too_for_a_submitted_deployment(cast, budget, make_user):
    submitted = deployment_helpers.submitted(cast.applicant)
    enrol(cast.compiler, submitted, [("PNC-1.jpg", photo("obama.jpg"))])
    with pytest.raises(InvalidTransition):
        watchlist_services.watchlist_destroy(actor=cast.ao, deployment=submitted, reason="x")
    assert WatchlistEntry.objects.filter(watchlist__deployment=submitted).count() == 1


def test_a_completed_deployments_watchlist_can_be_destroyed_by_hand(
    enrolled, api_for, django_capture_on_commit_callbacks
):
    deployment_services.deployment_close(actor=enrolled.ao, deployment=enrolled.deployment, reason="Done early.")
    with django_capture_on_commit_callbacks(execute=True):
        response = _destroy(api_for, enrolled.dpo, enrolled.deployment)

    assert response.status_code == 200, response.content
    assert response.json()["status"] == WatchlistStatus.DESTROYED
    assert not WatchlistEntry.objects.exists()


# --- (b) gate 6 about someone else: AOs and the DPO only -------------------------------------------------------


@pytest.fixture
def staffed(make_user):
    applicant = make_user(Role.APPLICANT)
    ao = make_user(Role.AUTHORISING_OFFICER)
    deployment = deployment_helpers.authorised(applicant, ao)
    operator, colleague = make_user(Role.LFR_OPERATOR), make_user(Role.LFR_OPERATOR)
    deployment_services.deployment_set_assigned_officers(
        actor=applicant, deployment=deployment, officer_ids=[operator.pk, colleague.pk]
    )
    return {
        "deployment": deployment,
        "applicant": applicant,
        "ao": ao,
        "operator": operator,
        "colleague": colleague,
        "compiler": make_user(Role.WATCHLIST_COMPILER),
        "dpo": make_user(Role.DPO),
    }


def _gates(api_for, user, deployment, operator_id):
    return api_for(user).get(f"/api/v1/deployments/{deployment.pk}/gates/", {"operator": operator_id})


def _operator_gate(response):
    return next(g for g in response.json()["gates"] if g["name"] == "operator")


def test_an_operator_may_check_their_own_gate(staffed, api_for):
    response = _gates(api_for, staffed["operator"], staffed["deployment"], staffed["operator"].pk)
    assert response.status_code == 200
    assert _operator_gate(response)["passed"] is True


@pytest.mark.parametrize("asker", ["colleague", "applicant", "compiler"])
def test_nobody_else_below_ao_learns_another_officers_gate(staffed, api_for, asker):
    response = _gates(api_for, staffed[asker], staffed["deployment"], staffed["operator"].pk)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_permitted" and "gates" not in response.json()


def test_a_refusal_does_not_reveal_whether_the_user_exists(staffed, api_for):
    response = _gates(api_for, staffed["colleague"], staffed["deployment"], 999_999)
    assert response.status_code == 403


@pytest.mark.parametrize("asker", ["ao", "dpo"])
def test_aos_and_the_dpo_may_check_any_officers_gate(staffed, api_for, asker):
    response = _gates(api_for, staffed[asker], staffed["deployment"], staffed["operator"].pk)
    assert response.status_code == 200
    assert _operator_gate(response)["passed"] is True
    assert _gates(api_for, staffed[asker], staffed["deployment"], 999_999).status_code == 400


def test_the_operator_parameter_must_be_an_id(staffed, api_for):
    assert _gates(api_for, staffed["ao"], staffed["deployment"], "me").status_code == 400
