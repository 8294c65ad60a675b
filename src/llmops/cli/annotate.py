"""`llmops annotate ...`: annotation queues, judged one trace at a time in the terminal."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from llmops.cli.output import console, print_json, when

HELP = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(help="Annotation queues: samples of traces to judge one at a time.",
                  context_settings=HELP, no_args_is_help=True)
JSON = typer.Option(False, "--json", help="Print JSON.")
KEYS = "[bold]1-5[/bold] score  [bold]l[/bold] label  [bold]c[/bold] correction  " \
       "[bold]s[/bold] skip  [bold]q[/bold] quit"


def _ws() -> Any:
    from llmops.workspace import Workspace

    return Workspace.open()


def _actor() -> str:
    from llmops.auth.audit import local_actor

    return local_actor()


@app.command("create", context_settings=HELP)
def create(queue: str = typer.Argument(..., help="A name for the queue."),
           where: str = typer.Option("", "--where", help="Which traces, e.g. "
                                     "\"route == 'travel' and status == 200\"."),
           since: str | None = typer.Option(None, "--since", help="Only traces this recent, "
                                            "e.g. 24h."),
           sample: int = typer.Option(50, "--sample", help="How many traces to pick at "
                                      "random."),
           json_: bool = JSON) -> None:
    """Create a queue from a random sample of the traces a query matches."""
    from llmops.feedback.queues import create_queue

    made = create_queue(_ws(), queue, where=where or None, sample=sample, since=since,
                        actor=_actor())
    if json_:
        print_json(made)
    else:
        console.print(f"queue {made.name}: {made.items} trace(s) to annotate; "
                      f"`llmops annotate next {made.name}` starts")


@app.command("list", context_settings=HELP)
def list_(json_: bool = JSON) -> None:
    """List queues and how far each is done."""
    from llmops.feedback.queues import list_queues

    queues = list_queues(_ws())
    if json_:
        print_json(queues)
        return
    table = Table("name", "done", "where", "created by", "created")
    for q in queues:
        table.add_row(q.name, f"{q.done}/{q.items}", q.where or "", q.created_by,
                      when(q.created_at))
    console.print(table)


def _show(item: Any) -> None:
    from rich.panel import Panel
    from rich.text import Text

    body = Text()
    messages = item.input if isinstance(item.input, list) else [
        {"role": "input", "content": str(item.input)}]
    for m in messages:
        body.append(f"{m.get('role', '?')}: ", style="bold cyan")
        body.append(f"{m.get('content', '')}\n")
    body.append("answer: ", style="bold green")
    body.append(item.output if item.output is not None else "(no answer)")
    console.print(Panel(body, title=f"{item.queue} #{item.position + 1} "
                        f"({item.remaining} left)  trace {item.trace_id}",
                        subtitle=f"route {item.route or '-'}  model {item.model or '-'}  "
                        f"status {item.status}  {when(item.created_at)}"))


def _interactive(workspace: Any, queue: str) -> int:
    """Judge items until the queue is done or the annotator quits; the number judged."""
    from rich.prompt import Prompt

    from llmops.errors import ValidationFailed
    from llmops.feedback.queues import complete_item, next_item

    judged = 0
    while (item := next_item(workspace, queue)) is not None:
        _show(item)
        console.print(KEYS)
        try:
            choice = Prompt.ask("choice", console=console).strip().lower()
            fields: dict[str, Any] = {}
            if choice in ("q", "quit"):
                break
            if choice in ("1", "2", "3", "4", "5"):
                fields["score"] = int(choice)
            elif choice == "l":
                fields["labels"] = [Prompt.ask("label", console=console).strip()]
            elif choice == "c":
                fields["correction"] = Prompt.ask("correct answer", console=console)
            elif choice != "s":
                console.print(f"[yellow]unknown choice {choice!r}[/yellow]")
                continue
        except EOFError:
            break
        try:
            complete_item(workspace, queue, item.position, actor=_actor(),
                          skip=choice == "s", **fields)
        except ValidationFailed as exc:
            console.print(f"[yellow]{exc.detail}[/yellow]")
            continue
        judged += choice != "s"
    return judged


@app.command("next", context_settings=HELP)
def next_(queue: str = typer.Argument(..., help="The queue."),
          score: int | None = typer.Option(None, "--score", help="Score the next trace "
                                           "1-5 without prompting."),
          label: list[str] = typer.Option([], "--label", help="Label it (repeatable)."),
          correction: str | None = typer.Option(None, "--correction", help="Give the "
                                                "answer it should have given."),
          skip: bool = typer.Option(False, "--skip", help="Skip the next trace."),
          json_: bool = JSON) -> None:
    """Show the next trace of QUEUE and take a score, a label or a correction (prompts,
    `q` quits); with --score/--label/--correction/--skip, judge one trace and exit."""
    from llmops.feedback.queues import complete_item, get_queue, next_item

    workspace = _ws()
    if score is None and not label and correction is None and not skip:
        judged = _interactive(workspace, queue)
        left = get_queue(workspace, queue)
        console.print(f"judged {judged}; {left.items - left.done} of {left.items} left")
        return
    item = next_item(workspace, queue)
    if item is None:
        get_queue(workspace, queue)  # NotFound for an unknown queue
        if json_:
            print_json({"queue": queue, "done": True})
        else:
            console.print(f"queue {queue} is done")
        return
    given = complete_item(workspace, queue, item.position, actor=_actor(), skip=skip,
                          score=score, labels=label or None, correction=correction)
    if json_:
        print_json({"queue": queue, "position": item.position, "trace_id": item.trace_id,
                    "feedback": given, "remaining": item.remaining - 1})
    else:
        _show(item)
        console.print(f"{'skipped' if given is None else 'recorded ' + given.id}; "
                      f"{item.remaining - 1} left")
