"""The ``shipyard`` command line."""

from shipyard.cli import (  # noqa: F401  (register commands)
    _datasets,
    _demo,
    _endpoints,
    _loop,
    _models,
    _monitor,
    _runs,
    _serve,
    _store_cmds,
)
from shipyard.cli._app import app

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``shipyard`` script."""
    app()
