"""Issue, list or revoke the user API tokens of an account, on the server (no page or endpoint issues them)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from compliance.models import User
from compliance.selectors.accounts import api_tokens_of
from compliance.services import accounts as account_services
from lfr_portal.errors import ServiceError


class Command(BaseCommand):
    help = (
        "User API tokens for machine clients: 'issue USERNAME' prints a new token once (only its digest is stored), "
        "'list USERNAME' shows its tokens' prefixes and expiry, 'revoke USERNAME' revokes them all. Audited."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["issue", "list", "revoke"])
        parser.add_argument("username")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No account named {options['username']!r}.")
        try:
            if options["action"] == "issue":
                issued = account_services.api_token_issue(actor=None, user=user)
                expires = f"; it expires {issued.expires_at:%Y-%m-%d %H:%M %Z}" if issued.expires_at else ""
                self.stderr.write(f"API token for {user.username}{expires}. Shown once: store it now.")
                self.stdout.write(issued.token)
            elif options["action"] == "revoke":
                revoked = account_services.api_tokens_revoke(actor=None, user=user)
                self.stdout.write(f"{revoked} token(s) of {user.username} revoked.")
            else:
                now = timezone.now()
                for token in api_tokens_of(user=user):
                    expires = f"{token.expiry:%Y-%m-%d}" if token.expiry else "never"
                    expired = token.expiry is not None and token.expiry < now
                    state = "  (expired: refused, and removed when next presented)" if expired else ""
                    self.stdout.write(f"{token.token_key}…  issued {token.created:%Y-%m-%d}  expires {expires}{state}")
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
