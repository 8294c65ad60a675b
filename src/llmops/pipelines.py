"""Retrain pipelines: production traces and feedback -> dataset versions -> a fine-tune ->
a gated promotion, from one YAML file, run by hand (`llmops pipelines run FILE`) or by a
monitor's alert (`--on-alert retrain:FILE`).

```yaml
datasets:                 # built from traces first, in order; later values may say
  - name: travel-fixes    # ${datasets.travel-fixes} for the version just built
    kind: sft             # sft | preference | eval (see `llmops datasets from-traces`)
    where: route == "travel"
    since: 7d
    min_rows: 8           # fewer rows: stop here, nothing trained (status "skipped")
train:                    # any `llmops train` option (TrainConfig), recipe included
  recipe: sft
  base: model:travel@production
  data: ${datasets.travel-fixes}
  lora: true
  register: travel
promote:                  # any `llmops models promote` option; gates decide the move
  alias: production
  data: travel-qa@1#test
  metrics: [rougeL]
  gates: ["rougeL >= production - 0.02"]
```

Each step's output is recorded on the report, and everything it makes carries lineage:
the dataset versions point at the traces and feedback they used, the training run at the
dataset, the model version at the run.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llmops.errors import InvalidInput

_REF = re.compile(r"\$\{datasets\.([A-Za-z0-9._-]+)\}")


class DatasetStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    kind: Literal["sft", "preference", "eval"]
    where: str | None = None
    since: str | None = None
    min_score: int = 4
    redact: bool = True
    min_rows: int = Field(1, ge=1)


class PromoteStep(BaseModel):
    model_config = ConfigDict(extra="allow")  # suite options: data, metrics, max_new_tokens

    alias: str = "production"
    gates: list[str] = Field(min_length=1)


class Pipeline(BaseModel):
    model_config = ConfigDict(extra="forbid")

    datasets: list[DatasetStep] = Field(default_factory=list)
    train: dict[str, Any]
    promote: PromoteStep | None = None


class PipelineReport(BaseModel):
    status: Literal["promoted", "rejected", "registered", "skipped"]
    datasets: dict[str, str] = Field(default_factory=dict)  # step name -> dataset:NAME@V
    rows: dict[str, int] = Field(default_factory=dict)
    run_id: str | None = None
    model: str | None = None  # model:NAME@V
    promotion: dict[str, Any] | None = None
    reason: str | None = None


def load_pipeline(path: str | Path) -> Pipeline:
    """Raises InvalidInput naming the file and what is wrong in it."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise InvalidInput(f"cannot read pipeline {str(path)!r}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise InvalidInput(f"pipeline {str(path)!r} is not valid YAML: {exc}") from exc
    try:
        return Pipeline.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'file'}: {e['msg']}"
                             for e in exc.errors())
        raise InvalidInput(f"invalid pipeline {str(path)!r}: {problems}") from None


def _substitute(value: Any, built: dict[str, str]) -> Any:
    if isinstance(value, str):
        def ref(found: re.Match[str]) -> str:
            if found[1] not in built:
                raise InvalidInput(f"{found[0]} names no dataset step before it "
                                   f"(steps: {', '.join(built) or 'none'})")
            return built[found[1]]
        return _REF.sub(ref, value)
    if isinstance(value, list):
        return [_substitute(v, built) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, built) for k, v in value.items()}
    return value


def run_pipeline(pipeline: Pipeline | str | Path, *, actor: str | None = None,
                 progress: Callable[[int, int], None] | None = None) -> PipelineReport:
    """Build the datasets, train, and promote through the gates.

    A dataset step with fewer rows than `min_rows` stops the pipeline with status
    ``skipped`` (the dataset version is kept: it records what was seen). The training
    options are checked before any dataset is built, so a typo costs nothing."""
    from llmops import feedback
    from llmops.evaluation.gates import promote
    from llmops.training.config import make_config
    from llmops.training.loop import train

    spec = pipeline if isinstance(pipeline, Pipeline) else load_pipeline(pipeline)
    placeholders = {s.name: "dataset:placeholder@1" for s in spec.datasets}
    make_config(_substitute(spec.train, placeholders))  # fail early on bad options
    report = PipelineReport(status="skipped")
    for step in spec.datasets:
        made = feedback.dataset_from_traces(step.name, kind=step.kind, where=step.where,
                                            since=step.since, min_score=step.min_score,
                                            redact=step.redact, actor=actor)
        report.datasets[step.name] = made.version.ref
        report.rows[step.name] = made.version.row_count
        if made.version.row_count < step.min_rows:
            report.reason = (f"{step.name}: {made.version.row_count} rows, fewer than min_rows "
                             f"{step.min_rows}")
            return report
    result = train(make_config(_substitute(spec.train, report.datasets)), progress=progress)
    report.run_id = result.run_id
    if result.model is None:
        report.status, report.reason = "skipped", "training registered no model (no register)"
        return report
    report.model = result.model.ref
    report.status = "registered"
    if spec.promote is not None:
        options = _substitute(spec.promote.model_dump(exclude={"alias", "gates"}),
                              report.datasets)
        promotion = promote(result.model.name, result.model.version, spec.promote.alias,
                            spec.promote.gates, actor=actor, **options)
        report.promotion = promotion.model_dump()
        report.status = "promoted" if promotion.moved else "rejected"
    return report
