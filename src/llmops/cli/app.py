"""The root `llmops` command and its groups."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from llmops.cli import (
    annotate,
    config,
    datasets,
    eval,
    feedback,
    init,
    keys,
    lineage,
    models,
    monitor,
    pipelines,
    prompts,
    routes,
    runs,
    server,
    traces,
    train,
    tune,
)

HELP = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    name="llmops",
    help="llmops: data, prompts, fine-tuning, evaluation, registry, gateway and monitoring "
    "for LLM applications, in one closed loop.",
    context_settings=HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def root(
    home: Path | None = typer.Option(
        None, "--home", envvar="LLMOPS_HOME", help="llmops home folder [default: ~/.llmops]"),
) -> None:
    if home is not None:
        os.environ["LLMOPS_HOME"] = str(home)
        from llmops.config import get_settings

        get_settings.cache_clear()


app.command("init", context_settings=HELP)(init.init)
app.add_typer(config.app, name="config")
app.add_typer(datasets.app, name="datasets")
app.add_typer(keys.app, name="keys")
app.add_typer(runs.app, name="runs")
app.add_typer(lineage.app, name="lineage")
app.add_typer(prompts.app, name="prompts")
app.add_typer(train.app, name="train")
app.add_typer(models.app, name="models")
app.add_typer(eval.app, name="eval")
app.add_typer(routes.app, name="routes")
app.add_typer(traces.app, name="traces")
app.add_typer(feedback.app, name="feedback")
app.add_typer(annotate.app, name="annotate")
app.add_typer(pipelines.app, name="pipelines")
app.add_typer(monitor.app, name="monitor")
app.command("deploy", context_settings=HELP)(routes.deploy)
app.command("server", context_settings=HELP)(server.serve)
app.command("tune", context_settings=HELP)(tune.tune)
