"""One exception tree for all of shipyard.

Every error carries the HTTP status the server answers with, and also
inherits from the built-in exception it resembles, so ``except KeyError``
keeps working for callers who do not know shipyard's types::

    ShipyardError                       500
    ├── InvalidInputError (ValueError)  400
    │   ├── InvalidFilterError          400  a search filter or order_by that does not parse
    │   ├── MalformedRequestError       400  a request body off its protocol's shape
    │   ├── ParamConflictError          409  a logged param re-logged with another value
    │   ├── PayloadTooLargeError        413  a request body over the server's max_body_bytes
    │   └── UnsupportedMediaTypeError   415  a request body in a format the route does not read
    ├── UnauthorizedError (PermissionError)  401  a guarded route called without its token
    ├── NotFoundError (KeyError)        404
    │   └── ArtifactNotFoundError       404  (also FileNotFoundError)
    ├── AlreadyExistsError              409
    ├── ConflictError                   409  the object's state forbids the call (run ended)
    ├── ConfigError (ValueError)        500  settings or shipyard.toml are wrong
    ├── CorruptedArtifactError          500  checksum mismatch on read
    ├── ModelError                      500  a served model raised while predicting
    ├── NotReadyError                   503  an endpoint whose model is not loaded (yet)
    ├── StepFailedError (RuntimeError)  500  a pipeline step raised or returned the wrong shape
    └── StoreError                      503  a backend is unreachable or refused
        └── SchemaOutdatedError         503  the metadata schema is older than the code
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AlreadyExistsError",
    "ArtifactNotFoundError",
    "ConfigError",
    "ConflictError",
    "CorruptedArtifactError",
    "InvalidFilterError",
    "InvalidInputError",
    "MalformedRequestError",
    "ModelError",
    "NotFoundError",
    "NotReadyError",
    "ParamConflictError",
    "PayloadTooLargeError",
    "SchemaOutdatedError",
    "ShipyardError",
    "StepFailedError",
    "StoreError",
    "UnauthorizedError",
    "UnsupportedMediaTypeError",
]


class ShipyardError(Exception):
    """Root of every error shipyard raises on purpose."""

    status_code: ClassVar[int] = 500

    def __init__(self, message: str, *, details: list[dict[str, object]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self._details = details

    def __str__(self) -> str:
        # KeyError's own __str__ quotes its argument; messages read better plain.
        return self.message

    def details(self) -> list[dict[str, object]]:
        """Itemised problems (a column and row each, for bad input); empty by default."""
        return list(getattr(self, "_details", None) or [])

    def to_dict(self) -> dict[str, object]:
        """The JSON body the server answers with: ``{"error": {type, message, details}}``."""
        return {
            "error": {
                "type": type(self).__name__,
                "message": self.message,
                "details": self.details(),
            }
        }


class InvalidInputError(ShipyardError, ValueError):
    """The caller passed something shipyard cannot accept."""

    status_code = 400


class InvalidFilterError(InvalidInputError):
    """A search filter or ordering does not parse or names an unknown field."""


class MalformedRequestError(InvalidInputError):
    """A request body does not parse, or does not have the shape its protocol defines.

    Args:
        message: What was expected, what came and how to fix it.
        field: Where in the body the problem is (``records[3]``, ``inputs[0].shape``),
            or None for the body as a whole.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def __reduce__(self) -> tuple[type[MalformedRequestError], tuple[str, str | None]]:
        return type(self), (self.message, self.field)

    def details(self) -> list[dict[str, object]]:
        """The field at fault and the message, when the error names a field."""
        if self.field is None:
            return []
        return [{"field": self.field, "message": self.message}]


class UnsupportedMediaTypeError(InvalidInputError):
    """A request body comes in a content type (or charset) the route does not read."""

    status_code = 415


class ParamConflictError(InvalidInputError):
    """A param was logged again with a different value (params are write-once)."""

    status_code = 409


class PayloadTooLargeError(InvalidInputError):
    """A request body is larger than the server's ``max_body_bytes``."""

    status_code = 413


class UnauthorizedError(ShipyardError, PermissionError):
    """A route guarded by a token was called without the right ``Authorization`` header."""

    status_code = 401


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


class ModelError(ShipyardError):
    """A served model raised while predicting; the message names the endpoint and version.

    ``endpoint`` and ``version`` say which (empty and 0 when unknown).
    """

    def __init__(self, message: str, *, endpoint: str = "", version: int = 0) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.version = version


class NotReadyError(ShipyardError):
    """The endpoint exists but its model is not loaded yet, or failed to load."""

    status_code = 503


class StepFailedError(ShipyardError, RuntimeError):
    """A pipeline step raised, or returned other than its outputs; ``step`` names it.

    The step's own exception is the ``__cause__``.
    """

    def __init__(self, message: str, *, step: str = "") -> None:
        super().__init__(message)
        self.step = step

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild_step_failed, (self.message, self.step)


def _rebuild_step_failed(message: str, step: str) -> StepFailedError:
    return StepFailedError(message, step=step)


class StoreError(ShipyardError):
    """A storage backend is unreachable or refused an operation."""

    status_code = 503


class SchemaOutdatedError(StoreError):
    """The metadata database was made by an older shipyard: run ``shipyard db upgrade``."""
