"""The signage photo, decrypted for the applicant's team, authorising officers and the DPO; every viewing is audited."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from compliance.models import Deployment
from compliance.selectors import deployments as selectors
from compliance.services import signage_photos


@login_required
@require_GET
def signage_photo_view(request: HttpRequest, pk: int, record_pk: int) -> HttpResponse:
    try:
        deployment = selectors.deployment_get(user=request.user, pk=pk)
    except Deployment.DoesNotExist as exc:
        raise Http404 from exc
    record = selectors.signage_list(user=request.user, deployment=deployment).filter(pk=record_pk).first()
    if record is None:
        raise Http404
    # NotPermitted (403) and NotFound (404) render through the middleware's refusal page.
    data, content_type = signage_photos.signage_photo_read(actor=request.user, record=record)
    response = HttpResponse(data, content_type=content_type)
    # May show members of the public: never cached by the browser or a proxy, never sniffed into something else.
    response["Cache-Control"] = "no-store, private"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Disposition"] = f'inline; filename="signage-{record.pk}"'
    return response
