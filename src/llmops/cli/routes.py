"""`llmops routes ...` and `llmops deploy`: what the gateway serves under which name."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from llmops.cli.output import console, print_json

HELP = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(help="Gateway routes: public model names -> model versions or upstreams.",
                  context_settings=HELP, no_args_is_help=True)
JSON = typer.Option(False, "--json", help="Print JSON.")

if TYPE_CHECKING:
    from llmops.gateway.routes import RouteStore


def _store() -> RouteStore:
    from llmops.gateway.routes import RouteStore
    from llmops.workspace import Workspace

    return RouteStore(Workspace.open())


@app.command("add", context_settings=HELP)
def add(name: str = typer.Argument(..., help="The model name clients send."),
        model: str | None = typer.Option(None, "--model", help="model:NAME@VERSION|ALIAS; "
                                         "an alias is followed as it moves."),
        target: list[str] = typer.Option([], "--target", help="More model targets with a "
                                         "traffic share, e.g. model:travel@4=10%."),
        upstream: str | None = typer.Option(None, "--upstream", help="An OpenAI-compatible "
                                            "base URL, e.g. http://127.0.0.1:8000/v1."),
        upstream_model: str | None = typer.Option(None, "--upstream-model"),
        api_key_env: str | None = typer.Option(None, "--api-key-env", help="Environment "
                                               "variable (on the server) holding the "
                                               "upstream's key."),
        max_tokens: int = typer.Option(1024, "--max-tokens", min=1, help="Cap per request."),
        timeout_s: float = typer.Option(60.0, "--timeout", min=0.1, help="Per upstream "
                                        "attempt, seconds."),
        redact_input: bool = typer.Option(False, "--redact-input", help="Replace PII in "
                                          "requests with placeholders."),
        redact_output: bool = typer.Option(False, "--redact-output", help="Replace PII in "
                                           "answers (streams are then sent in one piece)."),
        injection: str = typer.Option("log", "--injection", help="Prompt-injection "
                                      "heuristics: off, log or block."),
        online_eval_share: float = typer.Option(0.0, "--online-eval-share", help="Share "
                                                "(0-1) of answers scored off the request "
                                                "path, stored as auto feedback."),
        online_eval_metric: list[str] = typer.Option([], "--online-eval-metric", help="A "
                                                     "reference-free metric for online "
                                                     "evaluation: json_valid, length, "
                                                     "regex_match, json_schema."),
        online_eval_reference: str | None = typer.Option(
            None, "--online-eval-reference", help="The pattern (regex_match) or JSON "
            "Schema (json_schema) answers must match."),
        json_: bool = JSON) -> None:
    """Create or replace a route. Targets after the first are canaries by share and
    fallbacks when a target fails."""
    from pydantic import ValidationError

    from llmops.feedback.online import OnlineEval
    from llmops.gateway.routes import Route, RouteOptions, Target, parse_target

    try:
        targets = []
        if model:
            targets.append(parse_target(model))
        if upstream or upstream_model:
            targets.append(Target(kind="upstream", url=upstream, upstream_model=upstream_model,
                                  api_key_env=api_key_env))
        targets += [parse_target(t) for t in target]
        if targets and target:  # shares given for the extra targets: the first takes the rest
            rest = 100.0 - sum(t.weight for t in targets[1:])
            if rest <= 0:
                raise typer.BadParameter("the --target shares add up to 100% or more")
            targets[0] = targets[0].model_copy(update={"weight": rest})
        route = Route(name=name, targets=targets,
                      options=RouteOptions(max_tokens=max_tokens, timeout_s=timeout_s,
                                           redact_input=redact_input,
                                           redact_output=redact_output,
                                           injection=injection,  # type: ignore[arg-type]
                                           online_eval=OnlineEval(
                                               share=online_eval_share,
                                               metrics=online_eval_metric,
                                               reference=online_eval_reference)
                                           if online_eval_share or online_eval_metric
                                           else None))
    except ValidationError as exc:
        raise typer.BadParameter("; ".join(e["msg"] for e in exc.errors())) from None
    saved = _store().put(route)
    if json_:
        print_json(saved)
    else:
        console.print(f"route {name}: " + ", ".join(f"{t.label} ({t.weight:g}%)"
                                                     for t in saved.targets))


@app.command("list", context_settings=HELP)
def list_(json_: bool = JSON) -> None:
    """List routes."""
    routes = _store().list()
    if json_:
        print_json(routes)
        return
    table = Table("name", "targets", "max tokens", "updated by")
    for r in routes:
        table.add_row(r.name, ", ".join(f"{t.label} ({t.weight:g})" for t in r.targets),
                      str(r.options.max_tokens), r.updated_by)
    console.print(table)


@app.command("remove", context_settings=HELP)
def remove(name: str = typer.Argument(...)) -> None:
    """Remove a route."""
    _store().remove(name)
    console.print(f"removed route {name}")


@app.command("history", context_settings=HELP)
def history(name: str = typer.Argument(...), json_: bool = JSON) -> None:
    """Every revision a route has served, newest first."""
    revisions = _store().history(name)
    if json_:
        print_json(revisions)
        return
    from llmops.clock import iso

    table = Table("revision", "targets", "deployed", "by", "note")
    for r in revisions:
        table.add_row(str(r.revision), ", ".join(f"{t.label} ({t.weight:g})" for t in r.targets),
                      iso(r.created_at) or "", r.created_by,
                      f"rollback to {r.restores}" if r.restores else "")
    console.print(table)


def deploy(name: str = typer.Argument(..., help="The model name clients send, or "
                                      "`rollback` followed by that name."),
           route: str | None = typer.Argument(None, help="With `rollback`: the route."),
           model: str | None = typer.Option(None, "--model", help="model:NAME@VERSION|ALIAS."),
           to: int | None = typer.Option(None, "--to", min=1, help="With `rollback`: the "
                                         "revision to serve (default: the one before)."),
           json_: bool = JSON) -> None:
    """Serve a registered model under NAME (a route with one target), or
    `llmops deploy rollback NAME` to serve the route's previous revision again."""
    if name == "rollback" and route is not None:
        restored = _store().rollback(route, to=to)
        if json_:
            print_json(restored)
        else:
            console.print(f"route {route}: back to " + ", ".join(
                f"{t.label} ({t.weight:g}%)" for t in restored.targets))
        return
    if route is not None or to is not None:
        raise typer.BadParameter("usage: llmops deploy NAME --model REF, "
                                 "or llmops deploy rollback NAME [--to REVISION]")
    if model is None:
        raise typer.BadParameter("--model is required: llmops deploy NAME --model REF")
    add(name, model=model, target=[], upstream=None, upstream_model=None, api_key_env=None,
        max_tokens=1024, timeout_s=60.0, redact_input=False, redact_output=False,
        injection="log", online_eval_share=0.0, online_eval_metric=[],
        online_eval_reference=None, json_=json_)
