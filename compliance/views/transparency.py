"""The public transparency page (no login): published deployment records, CSV, and per-deployment detail."""

from __future__ import annotations

import csv

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from compliance import transparency
from compliance.models import Deployment
from compliance.selectors.deployments import deployment_published_get, deployment_published_list


def transparency_index(request: HttpRequest) -> HttpResponse:
    records = [transparency.deployment_record(d) for d in deployment_published_list()]
    rows = [(r["reference"], [r[key] for key, _label in transparency.COLUMNS]) for r in records]
    return render(request, "transparency/index.html", {"rows": rows, "columns": transparency.COLUMNS})


def transparency_csv(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="lfr-deployment-records.csv"'
    response.write("\ufeff")  # so spreadsheet programs read the en dashes in the headings as UTF-8
    writer = csv.writer(response)
    writer.writerow(["Reference", *[str(label) for _key, label in transparency.COLUMNS]])
    for deployment in deployment_published_list():
        record = transparency.deployment_record(deployment)
        writer.writerow([record["reference"], *[record[key] for key, _label in transparency.COLUMNS]])
    return response


def transparency_detail(request: HttpRequest, reference: str) -> HttpResponse:
    try:
        deployment = deployment_published_get(reference=reference)
    except Deployment.DoesNotExist as exc:
        raise Http404 from exc
    detail = transparency.public_detail(deployment)
    figures = [(label, detail[key]) for key, label in transparency.COLUMNS]
    return render(request, "transparency/detail.html", {"detail": detail, "figures": figures})
