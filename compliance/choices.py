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
