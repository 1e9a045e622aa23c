"""Deployment forms: shape only (types, formats); every governance rule lives in the deployment services."""

from __future__ import annotations

import datetime
import re
from typing import Any

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from compliance.choices import AlertPolicyKind, OffenceType, UseCase, WatchlistCategory
from compliance.models import CameraUnit, Deployment, ObjectiveMet, User
from compliance.models.retention import EuAuthorityKind, EuDecision, EuNotificationAuthority, EuObjective

DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]
_WINDOW_LINE = re.compile(
    r"^\s*(\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2})\s*(?:to|–|—|-)\s*(\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2})\s*$"
)


class LocalDateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs: dict | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%dT%H:%M")


def _dt_field(label: Any, *, required: bool = False, help_text: Any = "") -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label, required=required, help_text=help_text, input_formats=DATETIME_FORMATS, widget=LocalDateTimeInput()
    )


def _text(label: Any, *, rows: int = 3, help_text: Any = "") -> forms.CharField:
    return forms.CharField(
        label=label, required=False, help_text=help_text, widget=forms.Textarea(attrs={"rows": rows})
    )


def format_windows(windows: list[tuple[datetime.datetime, datetime.datetime]]) -> str:
    return "\n".join(
        f"{timezone.localtime(s):%Y-%m-%d %H:%M} to {timezone.localtime(e):%Y-%m-%d %H:%M}" for s, e in windows
    )


def _window_lines(text: str) -> list[str]:
    """The window lines as typed, without line-break style, surrounding spaces or blank lines."""
    return [" ".join(line.split()) for line in (text or "").splitlines() if line.strip()]


class _AmbiguousTime(ValueError):
    pass


def _local_moment(naive: datetime.datetime, tz: Any) -> datetime.datetime:
    """The local time as an instant: ValueError when the clocks skip it (spring forward), _AmbiguousTime when it
    happens twice (autumn back); zoneinfo would silently move the first and pick one of the second."""
    aware = naive.replace(tzinfo=tz)
    if aware.astimezone(datetime.UTC).astimezone(tz).replace(tzinfo=None) != naive:
        raise ValueError("no such local time")
    if aware.utcoffset() != aware.replace(fold=1).utcoffset():
        raise _AmbiguousTime(naive.strftime("%Y-%m-%d %H:%M"))
    return aware


def parse_windows(text: str) -> list[tuple[datetime.datetime, datetime.datetime]]:
    """One window per line, 'YYYY-MM-DD HH:MM to YYYY-MM-DD HH:MM' in local time; errors name the line."""
    windows, errors = [], []
    tz = timezone.get_current_timezone()
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        match = _WINDOW_LINE.match(line)
        if not match:
            errors.append(
                _("Line %(n)s (%(line)s) is not in the form 2026-05-01 09:00 to 2026-05-01 17:00.")
                % {"n": number, "line": line.strip()}
            )
            continue
        try:
            start, end = (
                _local_moment(datetime.datetime.strptime(part.replace("T", " "), "%Y-%m-%d %H:%M"), tz)
                for part in match.groups()
            )
        except _AmbiguousTime as exc:
            errors.append(
                _("Line %(n)s: %(t)s happens twice that night, as the clocks go back; choose a time outside that hour.")
                % {"n": number, "t": exc.args[0]}
            )
            continue
        except ValueError:
            errors.append(_("Line %(n)s has a date or time that does not exist.") % {"n": number})
            continue
        windows.append((start, end))
    if errors:
        raise forms.ValidationError(errors)
    return windows


class DeploymentForm(forms.Form):
    """The application (domain.md 2.1). Everything but the title may be left blank in a draft."""

    title = forms.CharField(label=_lazy("Title"), max_length=200)
    use_case = forms.ChoiceField(label=_lazy("Use case"), required=False, choices=[("", "—"), *UseCase.choices])
    objectives = _text(_lazy("Objectives"))
    offence_types = forms.MultipleChoiceField(
        label=_lazy("Offence types targeted"),
        required=False,
        choices=OffenceType.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    other_offence = forms.CharField(
        label=_lazy("Other serious offence"),
        max_length=200,
        required=False,
        help_text=_lazy("Required when you choose “Other serious offence”: name it explicitly."),
    )
    location_name = forms.CharField(label=_lazy("Location name"), max_length=200, required=False)
    location_address = _text(_lazy("Location address"), rows=2)
    latitude = forms.FloatField(label=_lazy("Latitude"), required=False)
    longitude = forms.FloatField(label=_lazy("Longitude"), required=False)
    zone_of_recognition = _text(_lazy("Zone of recognition"), rows=2)
    location_grounds = _text(
        _lazy("Grounds for believing sought persons will be present"),
        help_text=_lazy("Specific grounds for this place (Bridges v South Wales Police, para 130)."),
    )
    windows = forms.CharField(
        label=_lazy("Time windows"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text=_lazy(
            "One window per line, in local time: 2026-05-01 09:00 to 2026-05-01 17:00. "
            "Each window is at most the maximum length; windows may not overlap."
        ),
    )
    necessity = _text(_lazy("Necessity"))
    proportionality = _text(_lazy("Proportionality"))
    alternatives_considered = _text(_lazy("Less intrusive alternatives considered"))
    watchlist_categories = forms.MultipleChoiceField(
        label=_lazy("Watch-list categories"),
        required=False,
        choices=WatchlistCategory.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    watchlist_max_size = forms.IntegerField(label=_lazy("Maximum watch-list size"), required=False, min_value=1)
    match_threshold = forms.FloatField(
        label=_lazy("Match threshold"),
        required=False,
        help_text=_lazy("Distance; lower is stricter. It may not be looser than the force policy."),
    )
    alert_policy = forms.ChoiceField(label=_lazy("Alert policy"), choices=AlertPolicyKind.choices)
    alert_margin = forms.FloatField(label=_lazy("Alert margin (margin policy only)"), required=False, min_value=0)
    dpia_reference = forms.CharField(label=_lazy("DPIA reference"), max_length=100, required=False)
    dpia_version = forms.CharField(label=_lazy("DPIA version"), max_length=32, required=False)
    eia_reference = forms.CharField(label=_lazy("Equality Impact Assessment reference"), max_length=100, required=False)
    apd_reference = forms.CharField(
        label=_lazy("Appropriate Policy Document reference"), max_length=100, required=False
    )
    public_notice_at = _dt_field(
        _lazy("Public notice given at"), help_text=_lazy("At least 24 hours before the first window, by default.")
    )
    public_notice_where = forms.CharField(label=_lazy("Public notice given where"), max_length=300, required=False)
    public_notice_text = _text(_lazy("Public notice text"), help_text=_lazy("Shown on the public transparency page."))
    critical_threat_justification = _text(
        _lazy("Critical-threat justification"), help_text=_lazy("Only when notice is later than the default.")
    )
    standalone_attested = forms.BooleanField(
        label=_lazy("I attest the system is not linked to CCTV, body-worn video or ANPR"), required=False
    )
    camera_units = forms.ModelMultipleChoiceField(
        label=_lazy("Camera units"),
        required=False,
        queryset=CameraUnit.objects.filter(active=True),
        widget=forms.CheckboxSelectMultiple,
    )

    SECTIONS = (
        (_lazy("Purpose"), ("title", "use_case", "objectives", "offence_types", "other_offence")),
        (
            _lazy("Location"),
            ("location_name", "location_address", "latitude", "longitude", "zone_of_recognition", "location_grounds"),
        ),
        (_lazy("When"), ("windows",)),
        (_lazy("Justification"), ("necessity", "proportionality", "alternatives_considered")),
        (
            _lazy("Watch-list and matching"),
            ("watchlist_categories", "watchlist_max_size", "match_threshold", "alert_policy", "alert_margin"),
        ),
        (_lazy("Impact assessments"), ("dpia_reference", "dpia_version", "eia_reference", "apd_reference")),
        (
            _lazy("Public notice"),
            ("public_notice_at", "public_notice_where", "public_notice_text", "critical_threat_justification"),
        ),
        (_lazy("Equipment"), ("standalone_attested", "camera_units")),
    )

    def sections(self) -> list[tuple[Any, list[forms.BoundField]]]:
        return [(title, [self[name] for name in names]) for title, names in self.SECTIONS]

    def clean_windows(self) -> list[tuple[datetime.datetime, datetime.datetime]] | None:
        """The windows entered, or None when the text is the one the form showed (line breaks and blank lines
        aside): unchanged windows are not parsed again, so a saved time the form cannot express exactly (seconds,
        the repeated hour of the autumn change) is neither altered nor refused."""
        text = self.cleaned_data.get("windows", "")
        shown = self.initial.get("windows")
        if shown is not None and _window_lines(text) == _window_lines(shown):
            return None
        return parse_windows(text)

    @classmethod
    def initial_for(cls, deployment: Deployment) -> dict[str, Any]:
        initial = {name: getattr(deployment, name) for name in cls.base_fields if hasattr(deployment, name)}
        initial["windows"] = format_windows([(w.start, w.end) for w in deployment.windows.all()])
        initial["camera_units"] = list(deployment.camera_units.all())
        if initial.get("public_notice_at"):
            initial["public_notice_at"] = timezone.localtime(initial["public_notice_at"])
        return initial

    def service_kwargs(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["camera_unit_ids"] = [c.pk for c in data.pop("camera_units")]
        for name in ("use_case", "alert_policy"):
            data[name] = data.get(name) or ""
        if not data["alert_policy"]:
            data.pop("alert_policy")
        return data


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(
        label=_lazy("Decision"),
        choices=[("authorise", _lazy("Authorise")), ("reject", _lazy("Reject"))],
        widget=forms.RadioSelect,
    )
    rationale = forms.CharField(
        label=_lazy("Rationale (or reasons for rejection)"), widget=forms.Textarea(attrs={"rows": 4}), required=False
    )
    conditions = _text(_lazy("Conditions"))
    expires_at = _dt_field(_lazy("Authorisation expires at"), help_text=_lazy("Required when authorising."))
    match_threshold = forms.FloatField(
        label=_lazy("Tighten the match threshold to"),
        required=False,
        help_text=_lazy("Optional. You may make it stricter (lower), never looser."),
    )
    # The version of the application the AO read (the deployment page's link carries it): a decision on an
    # application changed since is refused.
    reviewed_version = forms.CharField(widget=forms.HiddenInput, required=False)


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_lazy("Reason"), widget=forms.Textarea(attrs={"rows": 3}), required=False)


class ReviewForm(forms.Form):
    objective_met = forms.ChoiceField(
        label=_lazy("Was the objective met?"), choices=ObjectiveMet.choices, widget=forms.RadioSelect
    )
    outcome_summary = forms.CharField(label=_lazy("Outcome summary"), widget=forms.Textarea(attrs={"rows": 3}))
    issues = _text(_lazy("Issues"))
    complaints = _text(_lazy("Complaints received"))
    complaint_count = forms.IntegerField(label=_lazy("Number of complaints"), min_value=0, initial=0)


class _PhotoField(forms.ImageField):
    def to_python(self, data: Any) -> Any:
        if getattr(data, "truncated", False):  # larger than the upload handler keeps (lfr_portal/uploads.py)
            raise forms.ValidationError(
                _lazy("The photo is %(n)s bytes; at most %(max)s are accepted."),
                params={"n": f"{data.size:,}", "max": f"{settings.LFR_MAX_UPLOAD_BYTES:,}"},
                code="file_too_large",
            )
        return super().to_python(data)


class SignageForm(forms.Form):
    position_description = forms.CharField(label=_lazy("Where the signs are"), max_length=300)
    sign_count = forms.IntegerField(label=_lazy("Number of signs"), min_value=1)
    placed_at = _dt_field(_lazy("Placed at"), required=True)
    removed_at = _dt_field(_lazy("Removed at"), help_text=_lazy("Leave blank while the signs are still up."))
    photo = _PhotoField(label=_lazy("Photo"), required=False)


class LeafletForm(forms.Form):
    count = forms.IntegerField(label=_lazy("Leaflets handed out"), min_value=0)
    shift_start = _dt_field(_lazy("Session or shift start"), required=True)
    shift_description = forms.CharField(label=_lazy("Session or shift"), max_length=200, required=False)


class TeamForm(forms.Form):
    officers = forms.ModelMultipleChoiceField(
        label=_lazy("Operators and engagement officers assigned"),
        required=False,
        queryset=User.objects.none(),
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args: Any, candidates: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if candidates is not None:
            self.fields["officers"].queryset = candidates


# ----------------------------------------------------------------------------------------------------------------
# EU AI Act mode (domain.md 8): shape only; compliance.services.eu_ai_act holds the rules.


class EuRecordForm(forms.Form):
    objective = forms.ChoiceField(
        label=_lazy("Article 5(1)(h) objective"),
        choices=EuObjective.choices,
        widget=forms.RadioSelect,
        required=False,
        help_text=_lazy("Real-time remote biometric identification is allowed only for one of these objectives."),
    )
    objective_detail = _text(_lazy("How this use serves the objective"))
    urgent = forms.BooleanField(
        label=_lazy("Urgent: start before the authority's authorisation (Art. 5(3))"), required=False
    )
    urgency_justification = _text(
        _lazy("Urgency justification"),
        help_text=_lazy(
            "Required for an urgent start. Unless the authorisation is recorded within 24 hours of the first session, "
            "every session stops and all data and results of the use are deleted."
        ),
    )
    fria_a_processes = _text(_lazy("(a) The processes in which the system will be used"))
    fria_b_period_frequency = _text(_lazy("(b) The period and frequency of use"))
    fria_c_affected_persons = _text(_lazy("(c) The categories of persons likely to be affected"))
    fria_d_risks = _text(_lazy("(d) The specific risks of harm to those persons"))
    fria_e_human_oversight = _text(_lazy("(e) The human oversight measures"))
    fria_f_mitigation = _text(_lazy("(f) The measures to be taken if the risks materialise"))
    eu_database_reference = forms.CharField(
        label=_lazy("EU database registration reference (Art. 49)"), max_length=100, required=False
    )

    @classmethod
    def initial_for(cls, record: Any) -> dict[str, Any]:
        return {name: getattr(record, name) for name in cls.base_fields}


class EuAuthorityDecisionForm(forms.Form):
    authority_kind = forms.ChoiceField(
        label=_lazy("Kind of authority"), choices=EuAuthorityKind.choices, widget=forms.RadioSelect
    )
    authority_name = forms.CharField(label=_lazy("Authority"), max_length=200)
    authority_reference = forms.CharField(label=_lazy("The authority's reference"), max_length=100)
    decision = forms.ChoiceField(
        label=_lazy("Decision"),
        choices=[(EuDecision.GRANTED, EuDecision.GRANTED.label), (EuDecision.REJECTED, EuDecision.REJECTED.label)],
        widget=forms.RadioSelect,
        help_text=_lazy("A rejection stops every session at once and deletes all data and results of the use."),
    )
    decided_on = forms.DateField(
        label=_lazy("Date of the decision"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )


class EuNotificationForm(forms.Form):
    authority = forms.ChoiceField(
        label=_lazy("Authority notified"), choices=EuNotificationAuthority.choices, widget=forms.RadioSelect
    )
    reference = forms.CharField(label=_lazy("Reference"), max_length=100, required=False)
    notified_at = _dt_field(_lazy("Notified at"), required=True)
