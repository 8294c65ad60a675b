"""`llmops prompts ...`: the prompt registry, local or remote (LLMOPS_SERVER_URL)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table
from rich.text import Text

from llmops.cli.output import console, print_json, when

if TYPE_CHECKING:
    from llmops.prompts import LabelChange, PromptRegistry, PromptVersion

HELP = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(help="Version, label, diff and render prompt templates.",
                  context_settings=HELP, no_args_is_help=True)
JSON = typer.Option(False, "--json", help="Print JSON.")
REF_HELP = "A prompt reference: NAME, NAME@VERSION, NAME@LABEL or NAME@sha256:PREFIX."


def _registry() -> PromptRegistry:
    from llmops.prompts import open_prompts

    return open_prompts()


def _read_text(path: Path) -> str:
    from llmops.errors import InvalidInput

    if str(path) == "-":
        return sys.stdin.read()
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}") from None


def _plain(text: str) -> Text:
    return Text(text)  # never rich markup: templates are full of [brackets]


def _version_header(v: PromptVersion) -> None:
    labels = f"  labels: {', '.join(v.labels)}" if v.labels else ""
    console.print(_plain(f"{v.ref}  {v.content_hash[:19]}...{labels}"))
    console.print(_plain(f"created {when(v.created_at)} UTC by {v.created_by}"))


@app.command("create", context_settings=HELP)
def create(
    name: str = typer.Argument(..., help="The prompt's name."),
    file: Path = typer.Option(..., "--file", "-f", help="The prompt YAML (or JSON) file; "
                              "- reads standard input."),
    label: str | None = typer.Option(None, "--label", "-l", help="Point this label (e.g. "
                                     "production) at the version."),
    json_: bool = JSON,
) -> None:
    """Create a version from a file; identical content returns the existing version."""
    found = _registry().create(name, _read_text(file), label=label, source=file.name or "-")
    if json_:
        print_json(found)
        return
    verb = "Created" if found.created else "Unchanged: identical to"
    console.print(_plain(f"{verb} {found.ref} ({found.content_hash[:19]}...)"))
    if label:
        console.print(_plain(f"label {label} -> version {found.version}"))


@app.command("list", context_settings=HELP)
def list_(json_: bool = JSON) -> None:
    """List prompts with their newest version and labels."""
    found = _registry().list_prompts()
    if json_:
        print_json(found)
        return
    table = Table("name", "latest", "versions", "labels", "updated", box=None)
    for p in found:
        labels = ", ".join(f"{k}={v}" for k, v in sorted(p.labels.items()))
        table.add_row(_plain(p.name), str(p.latest_version), str(p.versions), _plain(labels),
                      when(p.updated_at))
    console.print(table)


@app.command("versions", context_settings=HELP)
def versions(name: str = typer.Argument(..., help="The prompt's name."),
             json_: bool = JSON) -> None:
    """List every version of a prompt, oldest first."""
    found = _registry().versions(name)
    if json_:
        print_json(found)
        return
    table = Table("version", "hash", "labels", "created", "by", box=None)
    for v in found:
        table.add_row(str(v.version), v.content_hash[:19] + "...", _plain(", ".join(v.labels)),
                      when(v.created_at), _plain(v.created_by))
    console.print(table)


@app.command("show", context_settings=HELP)
def show(ref: str = typer.Argument(..., help=REF_HELP), json_: bool = JSON) -> None:
    """Show one version: its labels and its YAML."""
    v = _registry().get(ref)
    if json_:
        print_json(v)
        return
    _version_header(v)
    console.print()
    console.print(_plain(v.spec.to_yaml().rstrip("\n")))


@app.command("export", context_settings=HELP)
def export(ref: str = typer.Argument(..., help=REF_HELP),
           output: Path | None = typer.Option(None, "--output", "-o",
                                              help="Write here instead of standard output."),
           json_: bool = JSON) -> None:
    """Print a version as the YAML `create -f` reads back (same content, same hash)."""
    v = _registry().get(ref)
    text = (json.dumps(v.spec.canonical_dict(), indent=2, ensure_ascii=False) + "\n"
            if json_ else v.spec.to_yaml())
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        console.print(_plain(f"wrote {v.ref} to {output}"))


@app.command("diff", context_settings=HELP)
def diff(a: str = typer.Argument(..., help="The old version (a reference)."),
         b: str = typer.Argument(..., help="The new version (a reference)."),
         json_: bool = JSON) -> None:
    """Show what changed between two versions."""
    found = _registry().diff(a, b)
    if json_:
        print_json(found)
        return
    if found.identical:
        console.print(_plain(f"{found.a} and {found.b} are identical ({found.a_hash[:19]}...)"))
        return
    for line in found.unified.splitlines():
        style = ("green" if line.startswith("+") else "red" if line.startswith("-")
                 else "cyan" if line.startswith("@@") else "")
        console.print(Text(line, style=style))


def _coerce(values: dict[str, Any], schemas: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``--var`` values are text; a variable not typed as a string is read as JSON."""
    out = {}
    for key, raw in values.items():
        kind = schemas.get(key, {}).get("type", "string")
        kinds = [kind] if isinstance(kind, str) else list(kind)
        value: Any = raw
        if "string" not in kinds:
            try:
                value = json.loads(raw)
            except ValueError:
                value = raw  # validation names the field and the expected type
        out[key] = value
    return out


@app.command("render", context_settings=HELP)
def render(
    ref: str = typer.Argument(..., help=REF_HELP),
    var: list[str] | None = typer.Option(None, "--var", "-v", help="A variable, KEY=VALUE "
                                  "(repeatable); non-string variables take JSON values."),
    vars_file: Path | None = typer.Option(None, "--vars-file", help="A JSON object of "
                                          "variables; --var values override it."),
    json_: bool = JSON,
) -> None:
    """Render a version: the messages (or text), parameters and few-shot example ids."""
    from llmops.errors import InvalidInput

    values: dict[str, Any] = {}
    if vars_file is not None:
        try:
            loaded = json.loads(_read_text(vars_file))
        except ValueError as exc:
            raise InvalidInput(f"{vars_file}: not valid JSON: {exc}") from None
        if not isinstance(loaded, dict):
            raise InvalidInput(f"{vars_file}: expected a JSON object of variables")
        values.update(loaded)
    given: dict[str, str] = {}
    for item in var or []:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise typer.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--var")
        given[key] = value
    registry = _registry()
    version = registry.get(ref)
    values.update(_coerce(given, version.spec.variables))
    rendered = registry.render(f"{version.name}@{version.version}", values)
    if json_:
        print_json(rendered.to_dict())
        return
    extra = f"  examples: {', '.join(rendered.example_ids)}" if rendered.example_ids else ""
    console.print(_plain(f"{rendered.ref}  {rendered.content_hash[:19]}...{extra}"),
                  style="bold")
    if rendered.messages is not None:
        for message in rendered.messages:
            console.print(Text(f"--- {message['role']} ---", style="cyan"))
            console.print(_plain(message["content"]))
    else:
        console.print(_plain(rendered.text or ""))
    if rendered.parameters:
        console.print(Text("--- parameters ---", style="cyan"))
        console.print(_plain(" ".join(f"{k}={json.dumps(v)}"
                                      for k, v in rendered.parameters.items())))


def _print_change(change: LabelChange, json_: bool) -> None:
    if json_:
        print_json(change)
        return
    if change.version is None:
        console.print(_plain(f"removed label {change.label} of {change.name} "
                             f"(was version {change.previous_version})"))
    elif change.changed:
        was = f" (was {change.previous_version})" if change.previous_version else ""
        console.print(_plain(f"{change.name}@{change.label} -> version {change.version}{was}"))
    else:
        console.print(_plain(f"{change.name}@{change.label} already at version "
                             f"{change.version}; nothing changed"))


@app.command("label", context_settings=HELP)
def set_label(name: str = typer.Argument(..., help="The prompt's name."),
              version: str = typer.Argument(..., help="A version number (or a label, latest, "
                                            "sha256:PREFIX)."),
              label: str = typer.Argument(..., help="The label to point there."),
              json_: bool = JSON) -> None:
    """Point a label (production, staging, ...) at a version; its history is kept."""
    _print_change(_registry().set_label(name, version, label), json_)


@app.command("rollback", context_settings=HELP)
def rollback(name: str = typer.Argument(..., help="The prompt's name."),
             label: str = typer.Argument(..., help="The label to move back."),
             json_: bool = JSON) -> None:
    """Move a label back to where it pointed before its last move."""
    _print_change(_registry().rollback(name, label), json_)


@app.command("unlabel", context_settings=HELP)
def unlabel(name: str = typer.Argument(..., help="The prompt's name."),
            label: str = typer.Argument(..., help="The label to remove."),
            json_: bool = JSON) -> None:
    """Remove a label (its history stays)."""
    _print_change(_registry().remove_label(name, label), json_)


@app.command("history", context_settings=HELP)
def history(name: str = typer.Argument(..., help="The prompt's name."),
            label: str | None = typer.Argument(None, help="Only this label."),
            json_: bool = JSON) -> None:
    """Show label moves, newest first."""
    found = _registry().label_history(name, label)
    if json_:
        print_json(found)
        return
    table = Table("at", "label", "version", "was", "by", box=None)
    for e in found:
        table.add_row(when(e.at), _plain(e.label),
                      "-" if e.version is None else str(e.version),
                      "-" if e.previous_version is None else str(e.previous_version),
                      _plain(e.actor))
    console.print(table)
