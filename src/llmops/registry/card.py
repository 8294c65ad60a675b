"""A Markdown model card written from the records: nothing in it is typed by hand."""

from __future__ import annotations

from typing import Any

from llmops.clock import iso
from llmops.registry.models import ModelVersion


def _dataset_names(ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    from llmops.datasets.versions import version_names
    from llmops.workspace import Workspace

    with Workspace.open().store.read() as conn:
        return version_names(conn, ids)


def _run(run_id: str | None) -> Any:
    if not run_id:
        return None
    from llmops.errors import NotFound
    from llmops.tracking import open_tracking

    try:
        return open_tracking().get_run(run_id)
    except NotFound:
        return None


def _base(version: ModelVersion) -> str:
    if version.base_version_id:
        from llmops.registry import open_registry

        return open_registry().get_by_id(version.base_version_id).ref
    return version.base or "-"


def render_card(version: ModelVersion) -> str:
    """The card of `version`: what it is, what it was trained on and how, how it scored,
    which gates it met, and where its aliases point."""
    run = _run(version.run_id)
    datasets = _dataset_names(list(version.sources.get("datasets", [])))
    lines = [f"# {version.name} (version {version.version})", "",
             f"`{version.ref}`: {'a LoRA adapter' if version.format == 'lora' else 'full weights'}"
             f" ({version.size / 2**20:.1f} MiB, safetensors), registered {iso(version.created_at)}"
             f" by {version.created_by}.", "",
             "| | |", "|---|---|",
             f"| Base model | {_base(version)} |",
             f"| Aliases | {', '.join(version.aliases) or '-'} |",
             f"| Artifact | `{version.artifact}` |"]
    if version.description:
        lines += ["", version.description]
    lines += ["", "## Training", ""]
    if run is None:
        lines.append("No training run is recorded for this version.")
    else:
        lines += [f"Run `{run.id}` ({run.experiment}/{run.name}), {run.status}.", ""]
        if datasets or version.sources.get("train"):
            lines.append(f"- Training data: {version.sources.get('train') or ''} "
                         f"{', '.join(datasets.values())}".rstrip())
        if version.sources.get("eval"):
            lines.append(f"- Evaluation split: {version.sources['eval']}")
        if version.sources.get("prompt"):
            lines.append(f"- Prompt version: `prompt:{version.sources['prompt']}`")
        shown = ("recipe", "lora", "qlora", "lora_r", "epochs", "max_steps", "lr",
                 "batch_size", "max_length", "seed")
        params = {k: run.params[k] for k in shown if k in run.params}
        if params:
            lines.append("- Hyperparameters: " + ", ".join(f"{k}={v}" for k, v in
                                                            params.items()))
    metrics = version.metrics
    if metrics:
        lines += ["", "## Metrics", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v:.4g} |" for k, v in sorted(metrics.items())]
    if version.gates:
        lines += ["", "## Promotion gates", ""]
        for g in version.gates:
            verdict = "passed" if g.get("passed") else "failed"
            lines.append(f"- `{g.get('alias')}`: {verdict}")
            for r in g.get("gates", []):
                detail = (f" ({r['candidate']:.4g} vs {r['threshold']:.4g})"
                          if r.get("candidate") is not None and r.get("threshold") is not None
                          else "")
                lines.append(f"  - {'pass' if r['passed'] else 'FAIL'} `{r['expression']}`"
                             f"{detail}")
    lines += ["", f"_Written by llmops from the registry records of {version.ref}._", ""]
    return "\n".join(lines)
