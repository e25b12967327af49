"""System check: the node's SOP variant loads (``trm serve`` refuses otherwise).

Run by ``trm check`` and before ``trm serve``. A broken definition is reported
as one error per problem, each naming file, line and field, so a node never
starts with SOP rules half-loaded.
"""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, register

from trm.common.yamldata import DataFileError
from trm.sop import loader


@register("trm")
def check_sop_variant(**kwargs: Any) -> list[CheckMessage]:
    """Load ``settings.TRM_SOP_VARIANT``; return an error per problem found.

    ``trm.sop.E001``: a problem in a definition file (``msg`` is
    ``file:line: field: reason``). ``trm.sop.E002``: no such variant.
    """
    variant = loader.configured_variant()
    try:
        loader.get_definition(variant)
    except loader.UnknownVariant as exc:
        return [
            Error(
                f"TRM_SOP_VARIANT: unknown SOP variant {variant!r}",
                hint="Use one of: "
                + ", ".join(exc.available)
                + "; or the path of a variant's .yaml file.",
                id="trm.sop.E002",
            )
        ]
    except DataFileError as exc:
        hint = f"Fix the SOP definition of TRM_SOP_VARIANT={variant!r}; "
        hint += "`trm sop validate FILE` checks a file."
        return [
            Error(str(problem), hint=hint, id="trm.sop.E001")
            for problem in exc.problems
        ]
    return []
