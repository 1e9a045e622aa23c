"""The public transparency page (no login): published deployment records, CSV, and per-deployment detail."""

from __future__ import annotations

import csv
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from compliance import transparency
from compliance.models import Deployment
from compliance.selectors.deployments import deployment_published_get, deployment_published_list

# What a spreadsheet reads as the start of a formula (OWASP "CSV Injection"): a location typed by an applicant as
# "=HYPERLINK(...)" must reach the public's spreadsheet as text.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A text cell a spreadsheet would evaluate gets a leading single quote; numbers and other text pass as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return f"'{value}"
    return value


def transparency_index(request: HttpRequest) -> HttpResponse:
    records = [transparency.deployment_record(d) for d in deployment_published_list()]
    rows = [(r["reference"], [r[key] for key, _label in transparency.COLUMNS]) for r in records]
    return render(request, "transparency/index.html", {"rows": rows, "columns": transparency.COLUMNS})


def transparency_csv(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="lfr-deployment-records.csv"'
    response.write("\ufeff")  # so spreadsheet programs read the en dashes in the headings as UTF-8
    writer = csv.writer(response)
    keys = ["reference", *[key for key, _label in transparency.COLUMNS]]
    writer.writerow([csv_cell(str(label)) for label in ["Reference", *[label for _key, label in transparency.COLUMNS]]])
    for deployment in deployment_published_list():
        record = transparency.deployment_record(deployment)
        writer.writerow([csv_cell(record[key]) for key in keys])
    return response


def transparency_detail(request: HttpRequest, reference: str) -> HttpResponse:
    try:
        deployment = deployment_published_get(reference=reference)
    except Deployment.DoesNotExist as exc:
        raise Http404 from exc
    detail = transparency.public_detail(deployment)
    figures = [(label, detail[key]) for key, label in transparency.COLUMNS]
    return render(request, "transparency/detail.html", {"detail": detail, "figures": figures})
