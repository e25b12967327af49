"""The ``trm`` command: Django's management commands under one name.

``trm serve``, ``trm migrate``, ``trm createadmin``, ``trm audit verify``,
``trm keys init`` … ``trm help`` lists them all. ``trm demo scenario`` runs
without a node's settings (:mod:`trm.demo.scenario`).
"""

from __future__ import annotations

import os
import sys

#: ``trm demo --help`` in a shell without a node's settings.
DEMO_HELP = """usage: trm demo {seed,scenario} ...

The demo federation's commands:
  seed [--json]   create this node's fictional demo organisations and users
                  (needs a node's settings: run it in a node's environment,
                  as the launcher does)
  scenario        walk an adult and a child case through the five SOPs across
                  two running demo nodes (no node settings needed;
                  trm demo scenario --help for its options)"""


def _node_configured() -> bool:
    """Whether this shell's settings make a node (Django's settings load)."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        settings.INSTALLED_APPS  # noqa: B018 - loading is the check
    except ImproperlyConfigured:
        return False
    return True


def main(argv: list[str] | None = None) -> None:
    """Run a management command; ``argv`` defaults to ``sys.argv``.

    ``trm demo --help`` without a node's settings lists the demo
    subcommands instead of a configuration error.

    ``trm demo scenario …`` is the exception: it drives the running demo
    federation from outside any node (no node settings, no Django), so it is
    handed to :mod:`trm.demo.scenario` before Django is set up.
    """
    args = list(sys.argv if argv is None else argv)
    if args[1:3] == ["demo", "scenario"]:
        from trm.demo.scenario import main as scenario

        sys.exit(scenario(args[3:]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trm.settings")
    demo_help = args[1:2] == ["demo"] and args[2:] in ([], ["-h"], ["--help"])
    if demo_help and not _node_configured():
        print(DEMO_HELP)
        sys.exit(0 if args[2:] else 2)
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
