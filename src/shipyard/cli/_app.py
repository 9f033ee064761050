"""The ``shipyard`` command: a thin layer that parses arguments, calls services and prints."""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape
from typer.core import TyperGroup

from shipyard.cli._output import err_console
from shipyard.core.errors import ShipyardError

__all__ = ["app", "new_group"]


class _Group(TyperGroup):
    """Turns any ShipyardError into one red line on stderr and exit code 1."""

    def invoke(self, ctx: Any) -> Any:  # typer vendors click; its Context type is private
        try:
            return super().invoke(ctx)
        except ShipyardError as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            raise SystemExit(1) from None


def new_group(help_text: str) -> typer.Typer:
    """A command group with shipyard's error handling and no completion noise."""
    return typer.Typer(
        cls=_Group,
        help=help_text,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_show_locals=False,
        rich_markup_mode="rich",
    )


app = new_group(
    "shipyard: track experiments, register models, serve, monitor and retrain them safely."
)
