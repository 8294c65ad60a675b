"""`llmops keys create|list|revoke`: API keys on the local database (an operator's tool)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from llmops.cli.output import console, print_json, when

if TYPE_CHECKING:
    from llmops.store import Store

HELP = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(help="Create, list and revoke API keys.", context_settings=HELP,
                  no_args_is_help=True)
JSON = typer.Option(False, "--json", help="Print JSON.")


def _store() -> Store:
    from llmops.workspace import Workspace

    return Workspace.open().store


@app.command("create", context_settings=HELP)
def create(
    role: str = typer.Option(..., "--role", help="admin, maintainer, viewer or inference."),
    name: str = typer.Option(..., "--name", help="A name for the key, e.g. ci-bot."),
    expires: str | None = typer.Option(None, "--expires", help="Lifetime, e.g. 30d or 12h."),
    user: str | None = typer.Option(None, "--user", help="The user the key belongs to."),
    rpm: int | None = typer.Option(None, "--rpm", help="Gateway requests per minute."),
    tpm: int | None = typer.Option(None, "--tpm", help="Gateway tokens per minute."),
    budget: int | None = typer.Option(None, "--budget", help="Gateway tokens in all."),
    json_: bool = JSON,
) -> None:
    """Create a key and print it once (only its hash is stored)."""
    from llmops.auth import audit
    from llmops.auth.keys import create_key
    from llmops.clock import parse_duration

    seconds = parse_duration(expires) if expires else None
    secret, record = create_key(_store(), name=name, role=role, actor=audit.local_actor(),
                                expires_in_s=seconds, user=user, rpm=rpm, tpm=tpm,
                                token_budget=budget)
    if json_:
        print_json({"key": secret, **record.model_dump(mode="json")})
        return
    console.print(f"Created {record.role.value} key {record.name!r} (id {record.id}).")
    if record.expires_at:
        console.print(f"Expires {when(record.expires_at)} UTC.")
    console.print("The key, shown this once:")
    console.print(f"  [bold]{secret}[/bold]")


@app.command("list", context_settings=HELP)
def list_(json_: bool = JSON) -> None:
    """List keys (prefixes only; secrets are never stored)."""
    from llmops.auth.keys import list_keys

    found = list_keys(_store())
    if json_:
        print_json([{**k.model_dump(mode="json"), "state": k.state()} for k in found])
        return
    table = Table(box=None)
    table.add_column("id", no_wrap=True, min_width=26)
    for column in ("name", "prefix", "role", "state", "created", "expires"):
        table.add_column(column, no_wrap=True)
    for k in found:
        table.add_row(k.id, k.name, k.prefix + "...", k.role.value, k.state(),
                      when(k.created_at), when(k.expires_at))
    console.print(table)


@app.command("revoke", context_settings=HELP)
def revoke(key_id: str = typer.Argument(..., help="The key's id (see `llmops keys list`)."),
           json_: bool = JSON) -> None:
    """Revoke a key at once."""
    from llmops.auth import audit
    from llmops.auth.keys import revoke_key

    record = revoke_key(_store(), key_id, actor=audit.local_actor())
    if json_:
        print_json({**record.model_dump(mode="json"), "state": record.state()})
        return
    console.print(f"Revoked key {record.name!r} ({record.id}).")
