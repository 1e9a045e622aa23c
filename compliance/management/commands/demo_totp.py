"""Print the current TOTP code of a demo user's enrolled device. Refused unless DJANGO_DEBUG=1."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice


class Command(BaseCommand):
    help = "Print the current authenticator code for a user (demonstrations only, DJANGO_DEBUG=1)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG:
            raise CommandError("demo_totp reveals second-factor codes: refused unless DJANGO_DEBUG=1.")
        device = TOTPDevice.objects.filter(user__username=options["username"]).order_by("-confirmed", "-id").first()
        if device is None:
            raise CommandError("That user has not started authenticator enrolment yet: sign in once first.")
        code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift)
        self.stdout.write(f"{code:0{device.digits}d}")
