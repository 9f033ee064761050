"""The ``shipyard`` command line."""

from shipyard.cli import _datasets, _demo, _models, _runs, _store_cmds  # noqa: F401  (register commands)
from shipyard.cli._app import app

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``shipyard`` script."""
    app()
