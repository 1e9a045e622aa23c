"""Camera units a force registers; a deployment names the ones it will use."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class CameraUnit(models.Model):
    """A physical camera (usually on an LFR van). Matching issues it an API token of its own."""

    identifier = models.SlugField(_("identifier"), max_length=64, unique=True)
    description = models.CharField(_("description"), max_length=200, blank=True)
    force = models.CharField(_("force"), max_length=100)
    standalone = models.BooleanField(
        _("standalone"),
        default=True,
        help_text=_("Not linked to CCTV, body-worn video or ANPR."),
    )
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["identifier"]

    def __str__(self) -> str:
        return self.identifier
