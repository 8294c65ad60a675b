"""`evaluate`: answer every row of a dataset split with a target, score the answers with
reference metrics and judges, and record the evaluation.

    rows -> (prompt, reference) pairs (a missing reference fails before any generation)
    -> answers: from the generation cache, else from the target (written back per batch)
    -> per-example scores -> summary over the examples that succeeded
    -> an `evaluations` record, a run, per-example Parquet, lineage, eval.* on the version
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llmops.errors import InvalidInput
from llmops.evaluation import cache
from llmops.evaluation.judges import Judge, Verdict
from llmops.evaluation.metrics import score
from llmops.evaluation.models import Evaluation
from llmops.evaluation.suite import Suite, make_suite
from llmops.evaluation.targets import (
    Answer,
    EndpointTarget,
    Failure,
    ModelTarget,
    PredictionsTarget,
    Result,
    Target,
)
from llmops.training.recipes import Formatter, prompt_formatter, prompt_variables

EXAMPLES_ARTIFACT = "examples.parquet"
Progress = Callable[[int, int], None]


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
        prompt = [{"role": "user", "content": str(row["input"])}]
        reference = reference if isinstance(reference, str) else json.dumps(reference)
    else:
        raise InvalidInput(f"{data} is a {kind!r} dataset, which has no references: reference "
                           "metrics need a chat, instruction or eval dataset")
    if fmt is not None:
        prompt = fmt(prompt_variables(row, kind))
    return prompt, reference


def open_target(model: str | None = None, *, endpoint: str | None = None,
                model_name: str | None = None, api_key_env: str | None = None,
                predictions: str | Path | None = None, batch_size: int = 16) -> Target:
    """Exactly one of: `model` (a model reference or folder), `endpoint` with
    `model_name`, or a `predictions` file."""
    given = [x for x in (model, endpoint, predictions) if x]
    if len(given) != 1:
        raise InvalidInput("give exactly one target: --model REF, --endpoint URL "
                           "--model-name NAME, or --predictions FILE")
    if endpoint:
        if not model_name:
            raise InvalidInput("--endpoint needs --model-name (the model the endpoint serves)")
        return EndpointTarget(endpoint, model_name, api_key_env=api_key_env)
    if predictions:
        return PredictionsTarget(predictions)
    assert model is not None
    return ModelTarget(model, batch_size=batch_size)


def _answers(target: Target, suite: Suite, prompts: list[list[dict[str, str]]],
             row_ids: list[str], prompt_id: str | None, progress: Progress | None
             ) -> tuple[list[Result], int]:
    """Answers for every prompt, from the cache where possible; (answers, cached count)."""
    from llmops.workspace import Workspace

    done = 0

    def step(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, len(prompts))

    if target.identity is None:
        return target.answer(prompts, row_ids, max_new_tokens=suite.max_new_tokens,
                             progress=step), 0
    store = Workspace.open().store
    settings = {"max_new_tokens": suite.max_new_tokens, "greedy": True}
    keys = [cache.cache_key(target.identity, prompt_id, p, settings) for p in prompts]
    found = cache.lookup(store, keys)
    results: list[Result | None] = [found.get(k) for k in keys]
    cached = sum(r is not None for r in results)
    step(cached)
    todo: dict[str, list[int]] = {}  # each distinct prompt is generated once
    for i, r in enumerate(results):
        if r is None:
            todo.setdefault(keys[i], []).append(i)
    firsts = [indices[0] for indices in todo.values()]
    chunk = suite.batch_size * 4  # written back as they come: a rerun resumes
    for start in range(0, len(firsts), chunk):
        part = firsts[start:start + chunk]
        got = target.answer([prompts[i] for i in part], [row_ids[i] for i in part],
                            max_new_tokens=suite.max_new_tokens, progress=step)
        cache.save(store, {keys[i]: r for i, r in zip(part, got, strict=True)
                           if isinstance(r, Answer)})
        for i, r in zip(part, got, strict=True):
            for same in todo[keys[i]]:
                results[same] = r
            step(len(todo[keys[i]]) - 1)
    return [r for r in results if r is not None], cached


def evaluate(model: str | None = None, data: str | None = None, *,
             endpoint: str | None = None, model_name: str | None = None,
             api_key_env: str | None = None, predictions: str | Path | None = None,
             suite: Suite | str | Path | None = None, progress: Progress | None = None,
             actor: str | None = None, **options: Any) -> Evaluation:
    """Evaluate a target on a dataset split and record the result.

    Options (or a suite file) set `metrics`, `judges`, `prompt`, `prompt_vars`,
    `thresholds`, `max_new_tokens`, `batch_size`, `limit`.

    Example:
        >>> llmops.evaluate("model:travel-assistant@1", "travel-qa@1#test",
        ...                 metrics=["bleu", "rougeL"])

    Raises:
        InvalidInput: an unknown metric, a dataset without references or a bad target,
            before any generation.
    """
    from llmops import datasets

    if isinstance(suite, Suite):
        plan = suite.model_copy(update={k: v for k, v in {"data": data, **options}.items()
                                        if v is not None})
    else:
        plan = make_suite({"data": data, **options}, file=suite)
    version = datasets.get_version(plan.data)
    fmt, prompt_id = prompt_formatter(plan.prompt, plan.prompt_vars)
    rows = list(datasets.iter_rows(plan.data))[:plan.limit]
    pairs = [_pair(r, version.kind, fmt, plan.data) for r in rows]
    if not pairs:
        raise InvalidInput(f"{plan.data} has no rows to evaluate")
    judges = [Judge(j) for j in plan.judges if j.kind != "pairwise"]
    target = open_target(model, endpoint=endpoint, model_name=model_name,
                         api_key_env=api_key_env, predictions=predictions,
                         batch_size=plan.batch_size)
    if plan.perplexity and not isinstance(target, ModelTarget):
        raise InvalidInput("perplexity needs the model's weights: evaluate a --model, not an "
                           "endpoint or a predictions file")
    row_ids = [str(r["_id"]) for r in rows]
    answers, cached = _answers(target, plan, [p for p, _ in pairs], row_ids, prompt_id,
                               progress)
    return _record(target, plan, version, prompt_id, row_ids, pairs, answers, cached, judges,
                   actor)


def _record(target: Target, plan: Suite, version: Any, prompt_id: str | None,
            row_ids: list[str], pairs: list[tuple[list[dict[str, str]], str]],
            answers: list[Result], cached: int, judges: list[Judge],
            actor: str | None) -> Evaluation:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from llmops.evaluation.store import save_evaluation
    from llmops.tracking import start_run

    errors: list[list[str]] = [[a.error] if isinstance(a, Failure) else [] for a in answers]
    outputs = [a.text if isinstance(a, Answer) else "" for a in answers]
    columns: dict[str, list[Any]] = {
        "row_id": row_ids, "input": [json.dumps(p, ensure_ascii=False) for p, _ in pairs],
        "output": outputs, "reference": [r for _, r in pairs],
        "latency_ms": [a.latency_ms if isinstance(a, Answer) else None for a in answers],
        "tokens": [a.tokens if isinstance(a, Answer) else None for a in answers]}
    answered = [i for i, a in enumerate(answers) if isinstance(a, Answer)]
    for judge in judges:
        verdicts = judge.score([(pairs[i][0][-1]["content"], outputs[i], pairs[i][1])
                                for i in answered])
        column: list[float | None] = [None] * len(answers)
        reasons: list[str | None] = [None] * len(answers)
        for i, v in zip(answered, verdicts, strict=True):
            if isinstance(v, Verdict):
                column[i], reasons[i] = v.score, v.reason
            else:
                errors[i].append(v.error)
        columns[judge.spec.metric], columns[f"{judge.spec.metric}.reason"] = column, reasons
    # every summary is over the examples with no error at all, so all numbers of one
    # evaluation describe the same examples
    ok = [i for i in answered if not errors[i]]
    summary: dict[str, float] = {}
    scored = score(plan.metrics, [outputs[i] for i in ok], [pairs[i][1] for i in ok]) \
        if ok else {}
    for name, (corpus, each) in scored.items():
        values: list[float | None] = [None] * len(answers)
        for i, value in zip(ok, each, strict=True):
            values[i] = value
        columns[name], summary[name] = values, corpus
    for judge in judges:
        kept = [columns[judge.spec.metric][i] for i in ok]
        if kept:
            summary[judge.spec.metric] = sum(kept) / len(kept)
    latencies = [a.latency_ms for i in ok if (a := answers[i]) and isinstance(a, Answer)
                 and a.latency_ms]
    if latencies:
        summary["latency_ms"] = sum(latencies) / len(latencies)
    tokens = [a.tokens for i in ok if (a := answers[i]) and isinstance(a, Answer)
              and a.tokens is not None]
    if tokens:
        summary["tokens"] = sum(tokens) / len(tokens)
        if plan.price_per_1k_tokens is not None:
            summary["cost"] = sum(tokens) * plan.price_per_1k_tokens / 1000
    if plan.perplexity:
        assert isinstance(target, ModelTarget)
        nll, counts = target.negative_log_likelihood([p for p, _ in pairs],
                                                     [r for _, r in pairs])
        columns["perplexity"] = [math.exp(n / c) if c else None
                                 for n, c in zip(nll, counts, strict=True)]
        summary["perplexity"] = math.exp(sum(nll) / max(sum(counts), 1))
    columns["error"] = ["; ".join(e) if e else None for e in errors]
    failed = sum(bool(e) for e in errors)
    config = {"metrics": plan.metrics, "judges": [j.model_dump() for j in plan.judges],
              "thresholds": plan.thresholds, "max_new_tokens": plan.max_new_tokens,
              "prompt": plan.prompt, "judge_prompts": [j.prompt_version for j in judges]}
    with start_run(experiment="evaluations", name=f"eval-{target.label}",
                   params={"target": target.label, "data": plan.data,
                           "metrics": ",".join(plan.metrics)},
                   tags={"llmops.kind": "evaluation"}) as run:
        run.log_metrics({**summary, "failed": failed, "cached": cached}, step=0)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / EXAMPLES_ARTIFACT
            pq.write_table(pa.table(columns), path)
            artifact = run.log_artifact(path)
    return save_evaluation(
        target=target.label, model_version_id=target.model_version_id, data=plan.data,
        dataset_version_id=version.id, prompt_version_id=prompt_id, metrics=summary,
        total=len(answers), failed=failed, cached=cached, examples=artifact.digest,
        run_id=run.id, config=config)
