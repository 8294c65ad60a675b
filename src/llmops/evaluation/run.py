"""`evaluate`: generate answers for a dataset split with a model and score them.

The evaluation is a run (experiment ``evaluations``): its params, the corpus scores as
metrics, the per-example rows (input, output, reference, every score) as a Parquet
artifact, and lineage from the model and dataset versions. A registered model version
also gets the scores recorded on it (``eval.METRIC``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from llmops.errors import InvalidInput
from llmops.evaluation.metrics import check_metrics, score
from llmops.training.recipes import Formatter, prompt_formatter, prompt_variables

EXAMPLES_ARTIFACT = "examples.parquet"


class EvalResult(BaseModel):
    run_id: str | None
    model: str
    data: str
    count: int
    metrics: dict[str, float]


def _pair(row: dict[str, Any], kind: str, fmt: Formatter | None, data: str
          ) -> tuple[list[dict[str, str]], str]:
    """(prompt messages, reference answer) of one row; raises when there is no reference."""
    if kind == "chat":
        messages = row["messages"]
        if messages[-1].get("role") != "assistant":
            raise InvalidInput(f"{data}: row {row.get('_id')} has no reference (field "
                               "'messages' must end with an assistant message)")
        prompt, reference = [dict(m) for m in messages[:-1]], messages[-1]["content"]
    elif kind == "instruction":
        variables = prompt_variables(row, kind)
        prompt, reference = [{"role": "user", "content": variables["question"]}], \
            variables["answer"]
    elif kind == "eval":
        reference = row.get("reference", row.get("expected"))
        if reference is None:
            raise InvalidInput(f"{data}: row {row.get('_id')} has no reference (field "
                               "'reference' or 'expected')")
        prompt, reference = [{"role": "user", "content": str(row["input"])}], str(reference)
    else:
        raise InvalidInput(f"{data} is a {kind!r} dataset, which has no references: reference "
                           "metrics need a chat, instruction or eval dataset")
    if fmt is not None:
        prompt = fmt(prompt_variables(row, kind))
    return prompt, reference


def evaluate(model: str, data: str, *, metrics: Sequence[str] = ("rougeL",),
             prompt: str | None = None, prompt_vars: dict[str, str] | None = None,
             max_new_tokens: int = 64, batch_size: int = 16, limit: int | None = None,
             record: bool = True, progress: Callable[[int, int], None] | None = None
             ) -> EvalResult:
    """Answer every row of `data` with `model` and score the answers against references.

    Raises:
        InvalidInput: an unknown metric, or a dataset without references, before any
            generation.
    """
    from llmops import datasets
    from llmops.evaluation.generate import LocalGenerator

    names = check_metrics(list(metrics))
    version = datasets.get_version(data)
    fmt, prompt_id = prompt_formatter(prompt, prompt_vars)
    rows = list(datasets.iter_rows(data))[:limit]
    pairs = [_pair(r, version.kind, fmt, data) for r in rows]
    if not pairs:
        raise InvalidInput(f"{data} has no rows to evaluate")
    generator = LocalGenerator(model)
    done = 0

    def step(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, len(pairs))

    outputs = generator.generate([p for p, _ in pairs], max_new_tokens=max_new_tokens,
                                 batch_size=batch_size, progress=step)
    references = [r for _, r in pairs]
    scores = score(names, outputs, references)
    summary = {n: float(s[0]) for n, s in scores.items()}
    run_id = None
    if record:
        run_id = _record(model, data, version.id, generator.version, prompt_id, rows, pairs,
                         outputs, scores, summary, max_new_tokens)
    return EvalResult(run_id=run_id, model=model, data=data, count=len(pairs),
                      metrics=summary)


def _record(model: str, data: str, dataset_id: str, version: Any, prompt_id: str | None,
            rows: list[dict[str, Any]], pairs: list[tuple[list[dict[str, str]], str]],
            outputs: list[str], scores: dict[str, tuple[float, list[float]]],
            summary: dict[str, float], max_new_tokens: int) -> str:
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from llmops.tracking import start_run

    table = pa.table({
        "row_id": [r.get("_id") for r in rows],
        "input": [json.dumps(p, ensure_ascii=False) for p, _ in pairs],
        "output": outputs, "reference": [r for _, r in pairs],
        **{n: s[1] for n, s in scores.items()}})
    with start_run(experiment="evaluations", name=f"eval-{model.removeprefix('model:')}",
                   params={"model": model, "data": data, "max_new_tokens": max_new_tokens},
                   tags={"llmops.kind": "evaluation"}) as run:
        run.log_input(f"dataset:{dataset_id}")
        if version is not None:
            run.log_input(f"model:{version.id}", "evaluated")
        if prompt_id:
            run.log_input(f"prompt:{prompt_id}")
        run.log_metrics(summary, step=0)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / EXAMPLES_ARTIFACT
            pq.write_table(table, path)
            run.log_artifact(path)
    if version is not None:
        from llmops.registry import open_registry

        open_registry().record_metrics(version.ref, {f"eval.{k}": v for k, v in summary.items()})
    return run.id
