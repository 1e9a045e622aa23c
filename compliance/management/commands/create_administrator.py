"""Create an Administrator account from the server's command line: how an installation gets its first ones.

In the portal an Administrator only *proposes* an Administrator, and a second one approves (LFR_APPROVED_ROLES), so
a force starts with two made here. Whoever runs this holds the server, which can do anything to the database: the
command adds no power, and it is audited like any account creation (actor: the command line).
"""

from __future__ import annotations

import getpass
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.choices import Rank, Role
from compliance.models import User
from compliance.services import accounts as account_services
from lfr_portal.errors import ServiceError


class Command(BaseCommand):
    help = (
        "Create an Administrator account (the first ones of an installation). The password is asked twice, or "
        "read from standard input with --password-stdin; the Administrator replaces it and sets up an "
        "authenticator at first sign-in. Audited."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--first-name", default="")
        parser.add_argument("--last-name", default="")
        parser.add_argument("--email", default="")
        parser.add_argument("--collar-number", default="")
        parser.add_argument("--password-stdin", action="store_true", help="Read the password from standard input.")

    def _password(self, from_stdin: bool) -> str:
        if from_stdin:
            return sys.stdin.readline().rstrip("\r\n")
        if not sys.stdin.isatty():
            raise CommandError("No terminal to ask for the password: pass --password-stdin and pipe it in.")
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Password (again): "):
            raise CommandError("The two passwords differ.")
        return first

    def handle(self, *args: Any, **options: Any) -> None:
        username = options["username"].strip()
        if not username:
            raise CommandError("Give a username.")
        if User.objects.filter(username=username).exists():
            raise CommandError(f"The username {username!r} is taken.")
        password = self._password(options["password_stdin"])
        if not password:
            raise CommandError("The password is empty.")
        try:
            user = account_services.user_create(
                actor=None,
                username=username,
                password=password,
                role=Role.ADMINISTRATOR,
                rank=Rank.STAFF,
                first_name=options["first_name"],
                last_name=options["last_name"],
                email=options["email"],
                collar_number=options["collar_number"],
                must_change_password=True,  # whoever ran this knows it: the holder replaces it at first sign-in
            )
        except ServiceError as exc:
            problems = "; ".join(
                f"{field}: {' '.join(map(str, messages))}" for field, messages in (exc.details or {}).items()
            )
            raise CommandError(f"{exc.message} {problems}".strip()) from exc
        self.stdout.write(
            f"Administrator {user.username} created. They sign in at /accounts/login/, replace the password and set "
            "up an authenticator."
        )
        others = User.objects.filter(role=Role.ADMINISTRATOR, is_active=True).exclude(pk=user.pk).count()
        if not others:
            self.stdout.write(
                "It is the only Administrator: create a second one, since appointing an Administrator, an "
                "Authorising Officer or a DPO in the portal takes two."
            )
