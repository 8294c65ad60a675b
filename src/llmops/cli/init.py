"""`llmops init`: the home folder, the database and a first admin key."""

from __future__ import annotations

import typer

from llmops.cli.output import console, print_json


def init(json_: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Create the home folder and database, and print a first admin key once."""
    from sqlalchemy.engine import make_url

    from llmops.auth import audit
    from llmops.auth.keys import create_key, has_admin
    from llmops.config import get_settings
    from llmops.store.migrate import upgrade
    from llmops.workspace import Workspace

    settings = get_settings()
    workspace = Workspace.open(settings, migrate=False)
    upgrade(workspace.store)
    secret = key_id = None
    if not has_admin(workspace.store):
        secret, record = create_key(workspace.store, name="admin", role="admin",
                                    actor=audit.local_actor(), user="admin")
        key_id = record.id
    database = make_url(settings.resolved_database_url).render_as_string(hide_password=True)
    result = {"home": str(settings.home_path), "database_url": database,
              "artifact_url": settings.resolved_artifact_url, "admin_key": secret,
              "key_id": key_id}
    if json_:
        print_json(result)
        return
    console.print(f"llmops home: {result['home']}")
    console.print(f"database:    {database}")
    console.print(f"artifacts:   {result['artifact_url']}")
    if secret:
        console.print("\nAdmin key (shown this once; keep it safe):")
        console.print(f"  [bold]{secret}[/bold]")
    else:
        console.print("\nAlready initialised: an admin key exists. "
                      "`llmops keys create --role admin --name NAME` makes another.")
