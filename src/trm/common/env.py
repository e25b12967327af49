"""Typed readers for settings taken from the environment.

Each reader fails fast with :class:`django.core.exceptions.ImproperlyConfigured`
naming the variable and what it expects. Readers never echo a secret's value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _raw(name: str, environ: Mapping[str, str] | None) -> str | None:
    env = os.environ if environ is None else environ
    value = env.get(name)
    return None if value is None else value.strip()


def env_str(
    name: str, default: str | None = None, *, environ: Mapping[str, str] | None = None
) -> str | None:
    """Return the variable's value stripped of surrounding blanks, or ``default``."""
    value = _raw(name, environ)
    return default if value is None or value == "" else value


def env_bool(
    name: str, default: bool = False, *, environ: Mapping[str, str] | None = None
) -> bool:
    """Return a boolean from ``1/true/yes/on`` or ``0/false/no/off`` (any case).

    An empty value means ``default``, as for the other readers: ``TRM_HTTPS=``
    left blank in a compose file must not switch a protection off.

    Raises:
        ImproperlyConfigured: for any other value.
    """
    value = _raw(name, environ)
    if value is None or value == "":
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name} must be one of 1/0, true/false, yes/no, on/off; got {value!r}."
    )


def env_int(
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Return a whole number within ``[minimum, maximum]``.

    Raises:
        ImproperlyConfigured: when the value is not a whole number or is out of range.
    """
    value = _raw(name, environ)
    if value is None or value == "":
        return default
    if minimum is not None and maximum is not None:
        bounds = f" between {minimum} and {maximum}"
    elif minimum is not None:
        bounds = f" of at least {minimum}"
    elif maximum is not None:
        bounds = f" of at most {maximum}"
    else:
        bounds = ""
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(
            f"{name} must be a whole number{bounds}; got {value!r}."
        ) from None
    if (minimum is not None and number < minimum) or (
        maximum is not None and number > maximum
    ):
        raise ImproperlyConfigured(
            f"{name} must be a whole number{bounds}; got {number}."
        )
    return number


def env_float(
    name: str,
    default: float,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    environ: Mapping[str, str] | None = None,
) -> float:
    """Return a decimal number within ``[minimum, maximum]`` (e.g. ``1.5``).

    Raises:
        ImproperlyConfigured: when the value is not a finite number or is out
            of range.
    """
    value = _raw(name, environ)
    if value is None or value == "":
        return default
    bounds = ""
    if minimum is not None and maximum is not None:
        bounds = f" between {minimum:g} and {maximum:g}"
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfigured(
            f"{name} must be a number{bounds}; got {value!r}."
        ) from None
    if (
        number != number  # NaN
        or number in (float("inf"), float("-inf"))
        or (minimum is not None and number < minimum)
        or (maximum is not None and number > maximum)
    ):
        raise ImproperlyConfigured(f"{name} must be a number{bounds}; got {value!r}.")
    return number


def env_choice(
    name: str,
    default: str,
    choices: tuple[str, ...],
    *,
    environ: Mapping[str, str] | None = None,
) -> str:
    """Return one of ``choices``.

    Raises:
        ImproperlyConfigured: naming the allowed values when the value is another.
    """
    value = env_str(name, default, environ=environ)
    assert value is not None  # noqa: S101 - default is a str
    if value not in choices:
        raise ImproperlyConfigured(
            f"{name} must be one of {', '.join(choices)}; got {value!r}."
        )
    return value


def env_list(
    name: str, default: list[str], *, environ: Mapping[str, str] | None = None
) -> list[str]:
    """Return a comma-separated list with blanks removed."""
    value = _raw(name, environ)
    if value is None or value == "":
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_secret(name: str, *, environ: Mapping[str, str] | None = None) -> str | None:
    """Return a secret from ``NAME`` or from the file named by ``NAME_FILE``.

    Setting both is an error, as is a ``NAME_FILE`` that cannot be read or is
    empty. The secret itself never appears in an error message.

    Raises:
        ImproperlyConfigured: on both set, an unreadable or an empty file.
    """
    direct = _raw(name, environ)
    file_name = _raw(f"{name}_FILE", environ)
    if direct and file_name:
        raise ImproperlyConfigured(f"Set {name} or {name}_FILE, not both.")
    if file_name:
        path = Path(file_name)
        try:
            secret = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ImproperlyConfigured(
                f"{name}_FILE names {path}, which cannot be read ({exc.strerror})."
            ) from None
        except UnicodeDecodeError:
            raise ImproperlyConfigured(
                f"{name}_FILE names {path}, which is not UTF-8 text."
            ) from None
        if not secret:
            raise ImproperlyConfigured(f"{name}_FILE names {path}, which is empty.")
        return secret
    return direct or None


_QUOTES = ("'", '"')


def env_file(name: str, *, environ: Mapping[str, str] | None = None) -> Path | None:
    """Return the absolute path of the file the variable names, or None if unset.

    The path must be absolute: a relative one would depend on the working
    directory (under systemd, on ``WorkingDirectory``). Only the path is
    checked and used: the file's contents (a private key, say) never appear in
    a message.

    Raises:
        ImproperlyConfigured: naming the variable and the path when the path is
            quoted or relative, or the file does not exist, is not a regular
            file or cannot be read.
    """
    value = env_str(name, environ=environ)
    if value is None:
        return None
    if len(value) >= 2 and value[0] in _QUOTES and value[-1] == value[0]:
        raise ImproperlyConfigured(
            f"{name} must be an absolute path; got {value!r}, in quotes: quotes "
            "are taken literally, as part of the path, in an environment file "
            "read as is (docker --env-file, for one). Remove the quotes."
        )
    if not Path(value).is_absolute():
        raise ImproperlyConfigured(
            f"{name} must be an absolute path (beginning with /); got {value!r}, "
            "which would depend on the working directory."
        )
    path = Path(value).resolve()
    if not path.is_file():
        raise ImproperlyConfigured(
            f"{name} names {path}, which does not exist or is not a file."
        )
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise ImproperlyConfigured(
            f"{name} names {path}, which cannot be read ({exc.strerror})."
        ) from None
    return path


_NODE_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def validate_node_id(name: str, value: str) -> str:
    """Return ``value`` if it is a DNS-label-like node id (``a-z``, ``0-9``, ``-``).

    Raises:
        ImproperlyConfigured: otherwise.
    """
    if not _NODE_ID.fullmatch(value):
        raise ImproperlyConfigured(
            f"{name} must be 1-63 lower-case letters, digits or hyphens, not starting "
            f"or ending with a hyphen; got {value!r}."
        )
    return value


def validate_country(name: str, value: str) -> str:
    """Return ``value`` upper-cased if it is an ISO 3166-1 alpha-2 code.

    Raises:
        ImproperlyConfigured: for anything that is not an assigned alpha-2 code.
    """
    from django_countries.data import COUNTRIES

    code = value.upper()
    if code not in COUNTRIES:
        raise ImproperlyConfigured(
            f"{name} must be an ISO 3166-1 alpha-2 country code such as BG, MD or "
            f"RS; got {value!r}."
        )
    return code
