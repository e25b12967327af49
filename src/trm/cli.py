"""The ``trm`` command: Django's management commands under one name.

``trm serve``, ``trm migrate``, ``trm createadmin``, ``trm audit verify``,
``trm keys init`` … ``trm help`` lists them all. ``trm demo scenario`` runs
without a node's settings (:mod:`trm.demo.scenario`).
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    """Run a management command; ``argv`` defaults to ``sys.argv``.

    ``trm demo scenario …`` is the exception: it drives the running demo
    federation from outside any node (no node settings, no Django), so it is
    handed to :mod:`trm.demo.scenario` before Django is set up.
    """
    args = list(sys.argv if argv is None else argv)
    if args[1:3] == ["demo", "scenario"]:
        from trm.demo.scenario import main as scenario

        sys.exit(scenario(args[3:]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trm.settings")
    # Files the node creates (SQLite databases, keys, exports) are private.
    os.umask(0o077)
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line
    from django.db.utils import OperationalError

    args[0] = "trm"
    try:
        execute_from_command_line(args)
    except ImproperlyConfigured as exc:
        print(f"trm: configuration error: {exc}", file=sys.stderr)
        sys.exit(2)
    except OperationalError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(
            "trm: the database cannot be reached or used "
            f"({type(exc).__name__}: {first_line}). Check DATABASE_URL and that "
            "the database server runs.",
            file=sys.stderr,
        )
        sys.exit(3)


if __name__ == "__main__":
    main()
