"""``shipyard version``, ``init`` and ``db``: where the store is and what schema it has."""

from __future__ import annotations

from pathlib import Path

import typer

from shipyard._version import __version__
from shipyard.cli._app import app, new_group
from shipyard.cli._output import console, print_json
from shipyard.core.settings import SETTINGS_FILE, Settings
from shipyard.stores import HEAD_REVISION, Store

__all__: list[str] = []

db_app = new_group("The metadata database: schema revision and migrations.")
app.add_typer(db_app, name="db")

_TOML_TEMPLATE = """\
# shipyard settings for this project. Environment variables SHIPYARD_<NAME> override them.
home = "{home}"
# metadata_url = "postgresql://user@host/shipyard"   # default: SQLite under home
# artifact_url = "s3://bucket/prefix"                # default: a folder under home
"""


def _store(auto_create: bool = True) -> Store:
    return Store.from_settings(Settings.load(auto_create=auto_create))


@app.command()
def version(json_output: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Print shipyard's version and the schema revision it needs."""
    if json_output:
        print_json({"version": __version__, "schema": HEAD_REVISION})
    else:
        console.print(f"shipyard {__version__} (schema {HEAD_REVISION})")


@app.command()
def init(
    home: Path | None = typer.Option(
        None, help="Where the embedded store lives (default: settings, else ./.shipyard)."
    ),
) -> None:
    """Set up this directory: write shipyard.toml (if missing) and create the store."""
    settings = Settings.load() if home is None else Settings.load(home=home)
    toml_path = settings.project_dir / SETTINGS_FILE
    if not toml_path.exists():
        toml_path.write_text(_TOML_TEMPLATE.format(home=settings.home.as_posix()), encoding="utf-8")
        console.print(f"wrote [bold]{toml_path.name}[/]")
    store = Store.from_settings(settings)
    revision = store.upgrade()
    console.print(f"metadata  {store.metadata.db.display_url}  (schema {revision})")
    console.print(f"artifacts {store.artifacts.url}")
    console.print(
        "next: [bold]python -c \"import shipyard; shipyard.start_run('first').end()\"[/] "
        "then [bold]shipyard runs list[/]"
    )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create the schema, or migrate it to this version's (back up production databases first)."""
    store = _store(auto_create=False)
    db = store.metadata.db
    before = db.current_revision()
    after = store.upgrade()
    if before == after:
        console.print(f"{db.display_url} is up to date (schema {after})")
    else:
        console.print(f"{db.display_url}: schema {before or 'none'} -> {after}")


@db_app.command("current")
def db_current(json_output: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show the database's schema revision and the one this version needs."""
    db = _store(auto_create=False).metadata.db
    current = db.current_revision()
    if json_output:
        print_json(
            {
                "url": db.display_url,
                "current": current,
                "head": HEAD_REVISION,
                "up_to_date": current == HEAD_REVISION,
            }
        )
        return
    state = "up to date" if current == HEAD_REVISION else "run `shipyard db upgrade`"
    console.print(
        f"{db.display_url}: schema {current or 'none'}, code needs {HEAD_REVISION} ({state})"
    )
