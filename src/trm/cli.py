"""The ``trm`` command: Django's management commands under one name.

``trm serve``, ``trm migrate``, ``trm createadmin``, ``trm audit verify``,
``trm keys init`` … ``trm help`` lists them all.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    """Run a management command; ``argv`` defaults to ``sys.argv``."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trm.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    args = list(sys.argv if argv is None else argv)
    args[0] = "trm"
    try:
        execute_from_command_line(args)
    except ImproperlyConfigured as exc:
        print(f"trm: configuration error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
