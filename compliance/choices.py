"""Closed lists of the domain (domain.md section 1): roles and ranks."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    APPLICANT = "applicant", _("Applicant")
    AUTHORISING_OFFICER = "authorising_officer", _("Authorising Officer")
    WATCHLIST_COMPILER = "watchlist_compiler", _("Watch-list Compiler")
    LFR_OPERATOR = "lfr_operator", _("LFR Operator")
    ENGAGEMENT_OFFICER = "engagement_officer", _("Engagement Officer")
    DPO = "dpo", _("Data Protection Officer")
    ADMINISTRATOR = "administrator", _("Administrator")


class Rank(models.IntegerChoices):
    """Police ranks in order of seniority; the value orders them. Civilian staff hold no rank."""

    STAFF = 0, _("Police staff (no rank)")
    CONSTABLE = 10, _("Constable")
    SERGEANT = 20, _("Sergeant")
    INSPECTOR = 30, _("Inspector")
    CHIEF_INSPECTOR = 40, _("Chief Inspector")
    SUPERINTENDENT = 50, _("Superintendent")
    CHIEF_SUPERINTENDENT = 60, _("Chief Superintendent")
    COMMANDER = 70, _("Commander / Assistant Chief Constable")
    DEPUTY_ASSISTANT_COMMISSIONER = 80, _("Deputy Assistant Commissioner / Deputy Chief Constable")
    CHIEF_CONSTABLE = 90, _("Chief Constable / Commissioner")

    @classmethod
    def from_setting(cls, name: str) -> "Rank":
        """Parse a rank name from settings (e.g. 'superintendent'); an unknown name is a configuration error."""
        try:
            return cls[name.strip().upper().replace(" ", "_").replace("-", "_")]
        except KeyError as exc:
            raise ValueError(f"Unknown rank {name!r}; choose one of {', '.join(r.name.lower() for r in cls)}") from exc


FIELD_ROLES = (Role.LFR_OPERATOR, Role.ENGAGEMENT_OFFICER)


class AppointmentStatus(models.TextChoices):
    """A proposed appointment to a role that a second Administrator must approve (LFR_APPROVED_ROLES)."""

    PENDING = "pending", _("Awaiting a second Administrator")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class DeploymentStatus(models.TextChoices):
    """Deployment states (domain.md 2). Allowed transitions live in one table in the deployment services."""

    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted")
    AUTHORISED = "authorised", _("Authorised")
    REJECTED = "rejected", _("Rejected")
    SUSPENDED = "suspended", _("Suspended")
    REVOKED = "revoked", _("Revoked")
    CANCELLED = "cancelled", _("Cancelled")
    COMPLETED = "completed", _("Completed")
    REVIEWED = "reviewed", _("Reviewed and published")


class UseCase(models.TextChoices):
    """Closed list of LFR use cases, each mapped to a policy clause (domain.md 2.1)."""

    CRIME_HOTSPOT = "crime_hotspot", _("Crime hotspot (including access routes)")
    PROTECTIVE_SECURITY = (
        "protective_security",
        _("Protective security operation at an event or critical national infrastructure"),
    )
    SPECIFIC_INTELLIGENCE = "specific_intelligence", _("Specific intelligence about where sought persons will be")
    MISSING_VULNERABLE = "missing_vulnerable", _("Missing or vulnerable persons")


class OffenceType(models.TextChoices):
    SERIOUS_VIOLENCE = "serious_violence", _("Serious violence")
    GUN_CRIME = "gun_crime", _("Gun crime")
    KNIFE_CRIME = "knife_crime", _("Knife crime")
    SEXUAL_OFFENCES = "sexual_offences", _("Sexual offences (including child sexual exploitation)")
    ROBBERY = "robbery", _("Robbery")
    OTHER_SERIOUS = "other_serious", _("Other serious offence (named explicitly)")


class WatchlistCategory(models.TextChoices):
    """Closed watch-list categories, no catch-all (domain.md 3)."""

    WANTED_BY_COURTS = "wanted_by_courts", _("Wanted by the courts (warrant)")
    WANTED_ON_SUSPICION = "wanted_on_suspicion", _("Wanted on suspicion of an offence")
    MISSING_VULNERABLE = "missing_vulnerable", _("Missing or vulnerable person")
    RISK_OF_HARM = "risk_of_harm", _("Person posing a risk of harm to themselves or others")


class AlertPolicyKind(models.TextChoices):
    """How the engine decides a face alerts (domain.md 9)."""

    THRESHOLD = "threshold", _("Distance threshold")
    MARGIN = "margin", _("Threshold and margin over the runner-up")
