"""`llmops config show`: every setting, its value and where the value came from."""

from __future__ import annotations

import os

import typer
from rich.table import Table

from llmops.cli.output import console, print_json

app = typer.Typer(help="Show the settings llmops runs with.",
                  context_settings={"help_option_names": ["-h", "--help"]},
                  no_args_is_help=True)


def settings_rows() -> list[dict[str, object]]:
    from pydantic import SecretStr

    from llmops.config import Settings, get_settings

    settings = get_settings()
    rows = []
    for name, field in Settings.model_fields.items():
        env = f"LLMOPS_{name.upper()}"
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            value = "********" if value.get_secret_value() else None
        elif name == "database_url" and value is None:
            value = settings.resolved_database_url
        elif name == "artifact_url" and value is None:
            value = settings.resolved_artifact_url
        elif name == "home":
            value = str(settings.home_path)
        rows.append({"name": name, "env": env, "value": value,
                     "source": "env" if env in os.environ else "default",
                     "description": field.description})
    return rows


@app.command("show", context_settings={"help_option_names": ["-h", "--help"]})
def show(json_: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Print every setting (secrets masked)."""
    rows = settings_rows()
    if json_:
        print_json({r["name"]: {k: v for k, v in r.items() if k != "name"} for r in rows})
        return
    table = Table("setting", "value", "source", box=None)
    for r in rows:
        table.add_row(str(r["env"]), "" if r["value"] is None else str(r["value"]),
                      str(r["source"]))
    console.print(table)
