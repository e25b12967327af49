"""``trm createadmin``: create a node administrator with a one-time password."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from trm.accounts import services
from trm.accounts.models import Membership, Organisation, Role, TrmFunction
from trm.common.errors import DomainError
from trm.common.htcds import OrgType


class Command(BaseCommand):
    help = (
        "Create a node administrator and print a one-time password "
        "(changed at first sign-in, with authenticator enrolment)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument("--email", default="admin@example.invalid")
        parser.add_argument(
            "--organisation",
            default=None,
            help="Organisation name (created if missing; default: the node's name).",
        )
        parser.add_argument(
            "--if-none",
            action="store_true",
            help="Do nothing when a node administrator already exists.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if (
            options["if_none"]
            and Membership.objects.filter(role=Role.NODE_ADMINISTRATOR).exists()
        ):
            self.stdout.write("A node administrator exists already; nothing to do.")
            return
        org_name = str(options["organisation"] or settings.TRM_NODE_NAME)
        try:
            org = Organisation.objects.filter(name__iexact=org_name).first()
            if org is None:
                org = services.organisation_create(
                    actor=None,
                    name=org_name,
                    country=settings.TRM_COUNTRY,
                    org_type=OrgType.CENTRAL_GOVERNMENT_ORGANISATION,
                    functions=[TrmFunction.NATIONAL_CONTACT_POINT],
                )
            new = services.user_create(
                actor=None,
                username=options["username"],
                email=options["email"],
                organisation_id=org.pk,
                roles=[Role.NODE_ADMINISTRATOR],
            )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        line = "=" * 64
        self.stdout.write(
            f"{line}\n"
            f"Node administrator created (one-time credentials, shown once):\n"
            f"  username: {new.user.username}\n"
            f"  password: {new.one_time_password}\n"
            f"At first sign-in you set your own password and enrol an\n"
            f"authenticator app (TOTP).\n"
            f"{line}"
        )
