"""`llmops lineage show REF`: what an object came from and what came from it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer
from rich.tree import Tree

from llmops.cli.output import console, print_json

HELP = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(help="Walk the lineage graph.", context_settings=HELP, no_args_is_help=True)


def node_of(text: str) -> str:
    """A lineage node (``kind:id``) from a reference such as ``run:01J...``."""
    from llmops.refs import ID_KINDS, parse_ref

    ref = parse_ref(text, default_kind="run")
    if ref.kind == "dataset":
        from llmops.datasets import get_version

        return f"dataset:{get_version(text).id}"
    if ref.kind == "model":
        from llmops.registry import get

        return f"model:{get(text).id}"
    if ref.kind not in ID_KINDS:
        from llmops.errors import InvalidInput

        raise InvalidInput(f"lineage of {ref.kind} references needs the {ref.kind} registry, "
                           "which this version does not have yet")
    return f"{ref.kind}:{ref.name}"


@app.command("show", context_settings=HELP)
def show(ref: str = typer.Argument(..., help="An object reference, e.g. run:01JD3Q... or "
                                   "dataset:NAME@VERSION"),
         depth: int = typer.Option(10, "--depth", min=1, max=50, help="How far to walk."),
         json_: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show upstream (what REF came from) and downstream (what came from REF)."""
    from llmops.tracking import open_tracking

    node = node_of(ref)
    graph = open_tracking().lineage(node, depth=depth)
    serving = _serving(node.split(":", 1)[1]) if node.startswith("model:") else None
    if json_:
        print_json(graph if serving is None else {**graph.model_dump(), "serving": serving})
        return
    name = _names([graph.root] + [n for e in graph.upstream + graph.downstream
                                  for n in (e.source, e.target)])
    tree = Tree(f"[bold]{name(graph.root)}[/bold]")
    up = tree.add("upstream (came from)")
    for e in graph.upstream:
        up.add(f"{name(e.source)} --{e.relation}--> {name(e.target)}")
    down = tree.add("downstream (went into)")
    for e in graph.downstream:
        down.add(f"{name(e.source)} --{e.relation}--> {name(e.target)}")
    if serving is not None:
        served = tree.add(f"serving: {serving['traces']} gateway trace(s)")
        for route in serving["routes"]:
            served.add(f"route {route['route']} via {route['target']} ({route['weight']:g}%)")
    console.print(tree)


def _serving(version_id: str) -> dict[str, Any]:
    """What came after a model version outside the lineage edges: the gateway routes that
    send it traffic now (directly or through an alias) and how many traces it answered."""
    from sqlalchemy import func, select

    from llmops.errors import NotFound
    from llmops.gateway.routes import RouteStore
    from llmops.registry import ModelRegistry
    from llmops.store.tables import traces
    from llmops.workspace import Workspace

    workspace = Workspace.open()
    registry = ModelRegistry(workspace)
    routes = []
    for route in RouteStore(workspace).list():
        for target in route.targets:
            if target.kind != "model" or target.model is None:
                continue
            try:
                if registry.get(target.model).id == version_id:
                    routes.append({"route": route.name, "target": target.model,
                                   "weight": target.weight})
            except NotFound:  # an alias nobody holds yet
                continue
    with workspace.store.read() as conn:
        count = conn.execute(select(func.count()).select_from(traces).where(
            traces.c.model_version_id == version_id)).scalar_one()
    return {"routes": routes, "traces": count}


def _names(nodes: list[str]) -> Callable[[str], str]:
    """Readable names for nodes whose ids mean little to a person (dataset and model
    versions)."""
    from sqlalchemy import select

    from llmops.datasets.versions import version_names
    from llmops.store.tables import model_versions, registered_models
    from llmops.workspace import Workspace

    ids = {kind: [n.split(":", 1)[1] for n in nodes if n.startswith(kind + ":")]
           for kind in ("dataset", "model")}
    known: dict[str, str] = {}
    with Workspace.open().store.read() as conn:
        if ids["dataset"]:
            known.update(version_names(conn, ids["dataset"]))
        if ids["model"]:
            v, m = model_versions, registered_models
            known.update({r.id: f"model:{r.name}@{r.version}" for r in conn.execute(
                select(v.c.id, v.c.version, m.c.name).join(m, m.c.id == v.c.model_id)
                .where(v.c.id.in_(ids["model"])))})

    def name(node: str) -> str:
        kind, _, ident = node.partition(":")
        return f"{known[ident]} ({node})" if kind in ids and ident in known else node

    return name
