"""`llmops lineage show REF`: what an object came from and what came from it."""

from __future__ import annotations

import typer
from rich.tree import Tree

from llmops.cli.output import console, print_json

HELP = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(help="Walk the lineage graph.", context_settings=HELP, no_args_is_help=True)


def node_of(text: str) -> str:
    """A lineage node (``kind:id``) from a reference such as ``run:01J...``."""
    from llmops.refs import ID_KINDS, parse_ref

    ref = parse_ref(text, default_kind="run")
    if ref.kind not in ID_KINDS:
        from llmops.errors import InvalidInput

        raise InvalidInput(f"lineage of {ref.kind} references needs the {ref.kind} registry, "
                           "which this version does not have yet")
    return f"{ref.kind}:{ref.name}"


@app.command("show", context_settings=HELP)
def show(ref: str = typer.Argument(..., help="An object reference, e.g. run:01JD3Q..."),
         depth: int = typer.Option(10, "--depth", min=1, max=50, help="How far to walk."),
         json_: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show upstream (what REF came from) and downstream (what came from REF)."""
    from llmops.tracking import open_tracking

    graph = open_tracking().lineage(node_of(ref), depth=depth)
    if json_:
        print_json(graph)
        return
    tree = Tree(f"[bold]{graph.root}[/bold]")
    up = tree.add("upstream (came from)")
    for e in graph.upstream:
        up.add(f"{e.source} --{e.relation}--> {e.target}")
    down = tree.add("downstream (went into)")
    for e in graph.downstream:
        down.add(f"{e.source} --{e.relation}--> {e.target}")
    console.print(tree)
