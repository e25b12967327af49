"""``trm guidance …``: the guidance library's starter catalogue and search index.

``trm guidance seed [--file PATH]``  add the catalogue's resources the node never had
                                   (by slug; never changes one already there, never
                                   brings back one an editor deleted)
``trm guidance reindex``           rebuild the full-text index from the resources
``trm guidance check``             list SOP steps naming a resource the library lacks

``make run`` runs ``seed`` after migrating, so a new node starts with the
public references. A failure exits with status 1 (``CommandError``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from trm.common.errors import DomainError
from trm.guidance import search, selectors, services


class Command(BaseCommand):
    help = "Guidance library: `seed` the starter catalogue, `reindex`, `check`."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        seed = sub.add_parser("seed", help="add the starter catalogue (idempotent)")
        seed.add_argument(
            "--file",
            default=str(services.SEED_FILE),
            help="a seed YAML file (default: the packaged seed.yaml)",
        )
        sub.add_parser("reindex", help="rebuild the full-text index")
        sub.add_parser(
            "check", help="list SOP steps naming resources the library lacks"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "seed":
            try:
                added, skipped = services.seed_catalogue(path=Path(options["file"]))
            except (DomainError, OSError) as exc:
                raise CommandError(f"guidance seed: {exc}") from None
            self.stdout.write(
                f"Guidance catalogue: {added} added, {skipped} already present "
                "or added before."
            )
        elif action == "reindex":
            with transaction.atomic():
                count = search.rebuild()
            self.stdout.write(f"Guidance search index rebuilt: {count} resources.")
        else:
            self._check()

    def _check(self) -> None:
        from trm.sop.loader import get_definition

        named = {step.id: step.guidance for step in get_definition().steps()}
        missing = selectors.unknown_guidance_slugs(named)
        for step_id, slug in missing:
            self.stdout.write(
                f"warning: {step_id}: guidance {slug!r} is not in the library "
                "(the step shows nothing for it)"
            )
        if not missing:
            self.stdout.write("Every guidance resource the SOP steps name is here.")
