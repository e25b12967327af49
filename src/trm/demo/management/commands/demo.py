"""``trm demo seed [--json]``: the node's fictional demo organisations and users.

Creates what is missing of the six demo organisations and the one user per
role (:mod:`trm.demo.seed`); running it again changes nothing. In demo mode
(``TRM_DEMO=1``, development only) new users get the password in
``TRM_DEMO_PASSWORD`` and an authenticator enrolled with the secret in
``TRM_DEMO_TOTP_SECRET`` (40 hex digits), both DEMO ONLY; otherwise they get
one-time passwords, printed once. ``--json`` prints one JSON object
``{"country", "organisations_created", "users": [{"username", "role",
"organisation", "created", "one_time_password"}]}`` instead of text.

Exit status: 0 done; 1 refused (the message says why).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from trm.common.errors import DomainError
from trm.demo import seed


class Command(BaseCommand):
    help = (
        "Demo federation: seed [--json] creates the fictional organisations and users."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        one = sub.add_parser(
            "seed", help="Create the missing demo organisations and users."
        )
        one.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "seed":
            self._seed(options)

    def _seed(self, options: dict[str, Any]) -> None:
        demo = bool(settings.TRM_DEMO)
        try:
            result = seed.seed(
                password=os.environ.get("TRM_DEMO_PASSWORD", "") if demo else "",
                totp_secret_hex=(
                    os.environ.get("TRM_DEMO_TOTP_SECRET", "") if demo else ""
                ),
            )
        except (ImproperlyConfigured, ValueError) as exc:
            raise CommandError(str(exc)) from None
        except DomainError as exc:
            raise CommandError(exc.message) from None
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "country": settings.TRM_COUNTRY,
                        "organisations_created": result.organisations_created,
                        "users": [asdict(u) for u in result.users],
                    }
                )
            )
            return
        self.stdout.write(
            f"Demo organisations created: {result.organisations_created}; "
            f"users created: {result.users_created} of {len(result.users)}."
        )
        for user in result.users:
            line = f"  {user.username:<16} {user.role:<24} {user.organisation}"
            if user.one_time_password:
                line += f"  one-time password: {user.one_time_password}"
            self.stdout.write(line)
        if demo and result.users_created:
            self.stdout.write(
                "DEMO ONLY: new users have the demo password and authenticator "
                "secret given to this command."
            )
