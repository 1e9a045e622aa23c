"""Create demonstration data: one user per role (two Administrators) with a known password. Refused unless
DJANGO_DEBUG=1."""

from __future__ import annotations

import datetime
from collections.abc import Callable

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from compliance.choices import Rank, Role
from compliance.models import User
from compliance.services import accounts as account_services

DEMO_PASSWORD = "demo-password-2026"

DEMO_USERS = [
    ("applicant", Role.APPLICANT, Rank.INSPECTOR, "Alex", "Applicant"),
    ("ao", Role.AUTHORISING_OFFICER, Rank.SUPERINTENDENT, "Sam", "Superintendent"),
    ("compiler", Role.WATCHLIST_COMPILER, Rank.SERGEANT, "Casey", "Compiler"),
    ("operator", Role.LFR_OPERATOR, Rank.CONSTABLE, "Olu", "Operator"),
    ("engagement", Role.ENGAGEMENT_OFFICER, Rank.CONSTABLE, "Erin", "Engagement"),
    ("dpo", Role.DPO, Rank.STAFF, "Dana", "Protection"),
    ("admin", Role.ADMINISTRATOR, Rank.STAFF, "Ade", "Administrator"),
    # Appointing an Administrator, AO or DPO takes two Administrators: the second approves what the first proposes.
    ("admin2", Role.ADMINISTRATOR, Rank.STAFF, "Bo", "Second-Administrator"),
]

# Later parts of the product add demo data (a deployment, a watch-list, a session) by appending here.
DEMO_SEEDERS: list[Callable[[BaseCommand, dict[str, User]], None]] = []


class Command(BaseCommand):
    help = "Create one demo user per role (and demo data). Only with DJANGO_DEBUG=1."

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG:
            raise CommandError("seed_demo creates accounts with a published password: refused unless DJANGO_DEBUG=1.")
        users: dict[str, User] = {}
        today = timezone.localdate()
        for username, role, rank, first, last in DEMO_USERS:
            existing = User.objects.filter(username=username).first()
            if existing:
                users[username] = existing
                continue
            with transaction.atomic():
                user = account_services.user_create(
                    actor=None,
                    username=username,
                    password=DEMO_PASSWORD,
                    role=role,
                    rank=rank,
                    first_name=first,
                    last_name=last,
                    skip_password_validation=True,
                )
                if role in (Role.LFR_OPERATOR, Role.ENGAGEMENT_OFFICER):
                    account_services.training_record_add(
                        actor=None,
                        user=user,
                        completed_on=today - datetime.timedelta(days=60),
                        expires_on=today + datetime.timedelta(days=305),
                    )
            users[username] = user
        for seeder in DEMO_SEEDERS:
            seeder(self, users)
        self.stdout.write(self.style.SUCCESS(f"Demo accounts (password for all: {DEMO_PASSWORD}):"))
        for username, role, _rank, _first, _last in DEMO_USERS:
            note = (
                " (sets up an authenticator app at first sign-in)" if role in settings.LFR_SECOND_FACTOR_ROLES else ""
            )
            self.stdout.write(f"  {username:<11} {Role(role).label}{note}")
        self.stdout.write("  No authenticator app? `make totp user=ao` prints the current code once enrolled.")
