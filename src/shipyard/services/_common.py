"""Small helpers the services share: name rules and who is acting."""

from __future__ import annotations

import getpass
import re

from shipyard.core.errors import InvalidInputError

__all__ = ["check_name", "current_user"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,255}")


def check_name(kind: str, name: object) -> str:
    """A model, dataset or endpoint name: letters, digits, '.', '_' and '-', 1-256 long.

    Such names fit in URIs (``models:/NAME@ALIAS``) and URL paths without escaping.
    """
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        raise InvalidInputError(
            f"{kind} name must start with a letter or digit and hold only letters, digits, "
            f"'.', '_' and '-' (at most 256 characters); got {name!r}"
        )
    return name


def current_user() -> str:
    """The login name of whoever runs this process, or '' when it cannot be known."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""
