"""One exception tree for all of shipyard.

Every error carries the HTTP status the server answers with, and also
inherits from the built-in exception it resembles, so ``except KeyError``
keeps working for callers who do not know shipyard's types::

    ShipyardError                       500
    ├── InvalidInputError (ValueError)  400
    │   ├── InvalidFilterError          400  a search filter or order_by that does not parse
    │   └── ParamConflictError          409  a logged param re-logged with another value
    ├── NotFoundError (KeyError)        404
    │   └── ArtifactNotFoundError       404  (also FileNotFoundError)
    ├── AlreadyExistsError              409
    ├── ConflictError                   409  the object's state forbids the call (run ended)
    ├── ConfigError (ValueError)        500  settings or shipyard.toml are wrong
    ├── CorruptedArtifactError          500  checksum mismatch on read
    └── StoreError                      503  a backend is unreachable or refused
        └── SchemaOutdatedError         503  the metadata schema is older than the code
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AlreadyExistsError",
    "ArtifactNotFoundError",
    "ConfigError",
    "ConflictError",
    "CorruptedArtifactError",
    "InvalidFilterError",
    "InvalidInputError",
    "NotFoundError",
    "ParamConflictError",
    "SchemaOutdatedError",
    "ShipyardError",
    "StoreError",
]


class ShipyardError(Exception):
    """Root of every error shipyard raises on purpose."""

    status_code: ClassVar[int] = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        # KeyError's own __str__ quotes its argument; messages read better plain.
        return self.message

    def to_dict(self) -> dict[str, object]:
        """The JSON body the server answers with."""
        return {"error": type(self).__name__, "message": self.message, "status": self.status_code}


class InvalidInputError(ShipyardError, ValueError):
    """The caller passed something shipyard cannot accept."""

    status_code = 400


class InvalidFilterError(InvalidInputError):
    """A search filter or ordering does not parse or names an unknown field."""


class ParamConflictError(InvalidInputError):
    """A param was logged again with a different value (params are write-once)."""

    status_code = 409


class NotFoundError(ShipyardError, KeyError):
    """The named object does not exist."""

    status_code = 404


class ArtifactNotFoundError(NotFoundError, FileNotFoundError):
    """An artifact is indexed or requested but its bytes are not in the store."""


class AlreadyExistsError(ShipyardError):
    """An object with that identity already exists."""

    status_code = 409


class ConflictError(ShipyardError):
    """The object's current state does not allow the call."""

    status_code = 409


class ConfigError(ShipyardError, ValueError):
    """Settings from the environment or shipyard.toml are invalid."""


class CorruptedArtifactError(ShipyardError):
    """An artifact's bytes do not match the checksum recorded when it was written."""


class StoreError(ShipyardError):
    """A storage backend is unreachable or refused an operation."""

    status_code = 503


class SchemaOutdatedError(StoreError):
    """The metadata database was made by an older shipyard: run ``shipyard db upgrade``."""
