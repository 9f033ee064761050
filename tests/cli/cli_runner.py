"""Run the ``shipyard`` command in process, as the CLI tests do."""

from __future__ import annotations

from typer.testing import CliRunner

from shipyard.cli import app

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr; an error that is not an exit is raised as it is."""
    result = runner.invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr
