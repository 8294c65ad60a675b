"""Generate docs/cli.md and docs/settings.md from the code, so they cannot drift.

    python -m llmops.cli.reference          # rewrite both files
    python -m llmops.cli.reference --check  # exit 1 if either is stale (CI)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

DOCS = Path(__file__).resolve().parents[3] / "docs"


def _command_markdown(cmd: Any, path: list[str], out: list[str]) -> None:
    ctx = typer.Context(cmd, info_name=" ".join(path))
    if not getattr(cmd, "hidden", False):
        out.append(f"{'#' * min(len(path) + 1, 4)} `{' '.join(path)}`\n")
        if cmd.help:
            out.append(cmd.help.strip() + "\n")
        out.append(f"```\n{cmd.get_usage(ctx)}\n```\n")
        rows = []
        for param in cmd.get_params(ctx):
            if param.name == "help":
                continue
            names = ", ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
            if param.param_type_name == "argument":
                names = f"`{(param.name or '').upper()}`"
            help_text = (getattr(param, "help", None) or "").replace("|", "\\|")
            envvar = getattr(param, "envvar", None)
            if envvar:
                help_text += f" [env: {envvar}]"
            default = param.default
            if default not in (None, False, ()) and not callable(default):
                help_text += f" [default: {default}]"
            rows.append(f"| {names} | {help_text.strip()} |")
        if rows:
            out.append("| option | description |\n|---|---|\n" + "\n".join(rows) + "\n")
    if hasattr(cmd, "commands"):
        for name in sorted(cmd.commands):
            _command_markdown(cmd.commands[name], [*path, name], out)


def cli_reference() -> str:
    from llmops.cli.app import app

    out = ["# CLI reference\n",
           "Generated from the code by `python -m llmops.cli.reference`; do not edit.\n"]
    _command_markdown(typer.main.get_command(app), ["llmops"], out)
    return "\n".join(out)


def settings_reference() -> str:
    from llmops.config import Settings

    out = ["# Settings\n",
           "Every setting is an environment variable with the prefix `LLMOPS_`. "
           "`llmops config show` prints the values in effect. Generated from "
           "`llmops.config.Settings` by `python -m llmops.cli.reference`; do not edit.\n",
           "| variable | default | description |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = "" if field.default is None else f"`{field.default}`"
        out.append(f"| `LLMOPS_{name.upper()}` | {default} | {field.description} |")
    return "\n".join(out) + "\n"


FILES = {"cli.md": cli_reference, "settings.md": settings_reference}


def main(argv: list[str]) -> int:
    stale = []
    for name, render in FILES.items():
        path = DOCS / name
        text = render()
        if "--check" in argv:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print(f"stale: {', '.join(stale)}; run `python -m llmops.cli.reference`")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
