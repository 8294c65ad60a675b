"""Promotion gates: ``METRIC OP VALUE`` or ``METRIC OP ALIAS [+|- DELTA]``.

    rougeL >= production - 0.01      the candidate may lose at most 0.01 ROUGE-L against
                                     the version that holds `production` now
    judge.helpfulness >= 4           an absolute floor

`promote` evaluates the candidate (and the alias holders the gates name, on the same
suite; the generation cache makes a repeated baseline cheap), checks every gate, records
the result on the candidate version, and moves the alias only when all gates pass.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from llmops.errors import InvalidInput
from llmops.evaluation.models import Evaluation
from llmops.evaluation.suite import Suite, make_suite

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq}
_GATE = re.compile(
    r"^\s*(?P<metric>[A-Za-z][A-Za-z0-9_.]*)\s*(?P<op>>=|<=|==|>|<)\s*"
    r"(?:(?P<number>[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|(?P<alias>[a-z][a-z0-9._-]*?)"
    r"(?:\s*(?P<sign>[+-])\s*(?P<delta>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?))?)\s*$")


class Gate(BaseModel):
    expression: str
    metric: str
    op: str
    value: float | None = None  # an absolute threshold
    alias: str | None = None  # or relative to the metric of this alias's holder
    delta: float = 0.0


class GateResult(BaseModel):
    expression: str
    passed: bool
    candidate: float | None
    threshold: float | None  # what the candidate was held to
    baseline: str | None = None  # model:NAME@V that held the alias
    margin: float | None = None  # candidate - threshold (negative: failed by that much)
    note: str | None = None


class Promotion(BaseModel):
    name: str
    version: int
    alias: str
    passed: bool
    moved: bool
    gates: list[GateResult]
    candidate_eval: str
    baseline_evals: dict[str, str]


def parse_gate(text: str, produces: list[str]) -> Gate:
    """Raises InvalidInput naming what is wrong (a usage error on the CLI)."""
    found = _GATE.match(text)
    if found is None:
        raise InvalidInput(f"gate {text!r} does not parse: expected METRIC OP NUMBER or "
                           "METRIC OP ALIAS [+|- NUMBER], e.g. 'rougeL >= production - 0.01'")
    metric = found["metric"]
    if metric not in produces:
        raise InvalidInput(f"gate {text!r} names metric {metric!r}, which the evaluation does "
                           f"not produce (it produces {', '.join(produces)})")
    delta = float(found["delta"] or 0) * (-1 if found["sign"] == "-" else 1)
    return Gate(expression=text.strip(), metric=metric, op=found["op"],
                value=float(found["number"]) if found["number"] else None,
                alias=found["alias"], delta=delta)


def check(gate: Gate, candidate: Evaluation, baseline: Evaluation | None,
          baseline_ref: str | None, *, promoting: str | None = None) -> GateResult:
    """One gate. Incomplete evaluations fail: scores over a subset of the examples are
    not comparable. A gate on an alias nobody holds passes only when it is the alias
    being promoted (the first promotion); any other unheld alias is a typo and fails."""
    if candidate.status != "complete" or (baseline and baseline.status != "complete"):
        which = candidate if candidate.status != "complete" else baseline
        assert which is not None
        return GateResult(expression=gate.expression, passed=False, candidate=None,
                          threshold=None, baseline=baseline_ref,
                          note=f"eval:{which.id} is incomplete ({which.failed} of "
                               f"{which.total} examples failed)")
    value = candidate.metrics.get(gate.metric)
    if value is None:
        return GateResult(expression=gate.expression, passed=False, candidate=None,
                          threshold=None, note=f"the candidate has no {gate.metric} score "
                          f"({candidate.failed} of {candidate.total} examples failed)")
    if gate.alias is not None:
        if baseline is None:
            first = gate.alias == promoting
            return GateResult(expression=gate.expression, passed=first, candidate=value,
                              threshold=None, note=f"no version holds {gate.alias!r} yet"
                              + (": nothing to compare with" if first else
                                 " (and it is not the alias being promoted)"))
        base = baseline.metrics.get(gate.metric)
        if base is None:
            return GateResult(expression=gate.expression, passed=False, candidate=value,
                              threshold=None, baseline=baseline_ref,
                              note=f"{baseline_ref} has no {gate.metric} score")
        threshold = base + gate.delta
    else:
        threshold = gate.value if gate.value is not None else 0.0
    passed = _OPS[gate.op](value, threshold)
    return GateResult(expression=gate.expression, passed=passed, candidate=value,
                      threshold=threshold, baseline=baseline_ref if gate.alias else None,
                      margin=value - threshold)


def promote(name: str, version: int | str, alias: str, gates: list[str], *,
            suite: Suite | str | Path | None = None,
            progress: Callable[[str], Any] | None = None, actor: str | None = None,
            **options: Any) -> Promotion:
    """Evaluate, gate, record, and move `alias` to `version` only if every gate passes.

    Raises:
        InvalidInput: a gate that does not parse or names a metric the suite does not
            produce, before anything is evaluated.
    """
    from llmops import labels
    from llmops.evaluation.run import evaluate
    from llmops.registry import ModelRegistry
    from llmops.workspace import Workspace

    plan = suite if isinstance(suite, Suite) else make_suite(options, file=suite)
    parsed = [parse_gate(g, plan.produces) for g in gates]
    labels.check_label(alias)
    registry = ModelRegistry(Workspace.open(), actor=actor)
    candidate = registry.get(f"{name}@{version}")
    step = progress or (lambda label: None)
    result = evaluate(candidate.ref, suite=plan, actor=actor,
                      progress=step(f"evaluating {candidate.ref}"))
    baselines: dict[str, tuple[Evaluation, str]] = {}
    for alias_name in sorted({g.alias for g in parsed if g.alias}):
        from llmops.errors import NotFound

        try:
            holder = registry.get(f"{name}@{alias_name}")
        except NotFound:
            continue
        if holder.id == candidate.id:
            baselines[alias_name] = (result, holder.ref)
        else:
            baselines[alias_name] = (evaluate(holder.ref, suite=plan, actor=actor,
                                              progress=step(f"evaluating {holder.ref} "
                                                            f"({alias_name})")), holder.ref)
    checked = [check(g, result, *(baselines.get(g.alias) or (None, None)) if g.alias
                     else (None, None), promoting=alias) for g in parsed]
    passed = all(c.passed for c in checked)
    promotion = Promotion(name=name, version=candidate.version, alias=alias, passed=passed,
                          moved=False, gates=checked, candidate_eval=result.id,
                          baseline_evals={a: e.id for a, (e, _) in baselines.items()})
    registry.record_gates(candidate.id, promotion.model_dump(exclude={"moved"}))
    if passed:
        registry.set_alias(name, str(candidate.version), alias)
        promotion.moved = True
    return promotion
