"""An evaluation suite: what to evaluate a target on, as a YAML file or keyword options.

    data: travel-qa@1#test
    prompt: travel-system@production      # optional: formats each row
    prompt_vars: {agency: Sunny Trips}
    metrics: [bleu, rougeL]
    judges:
      - {name: helpfulness, kind: rubric, endpoint: http://127.0.0.1:8750/v1, model: judge}
    thresholds: {rougeL: 0.3, judge.helpfulness: 4}
    max_new_tokens: 64
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError

from llmops.errors import InvalidInput
from llmops.evaluation.judges import JudgeSpec
from llmops.evaluation.metrics import check_metrics


class Suite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: str
    prompt: str | None = None
    prompt_vars: dict[str, str] = Field(default_factory=dict)
    metrics: list[str] = Field(default_factory=lambda: ["rougeL"])
    judges: list[JudgeSpec] = Field(default_factory=list)
    thresholds: dict[str, float] = Field(default_factory=dict)
    price_per_1k_tokens: float | None = Field(None, ge=0, description="adds `cost`: the "
                                              "answers' tokens at this price")
    perplexity: bool = Field(False, description="adds `perplexity` of a local model on the "
                             "references")
    max_new_tokens: PositiveInt = 64
    batch_size: PositiveInt = 16
    limit: PositiveInt | None = None

    @property
    def produces(self) -> list[str]:
        """The summary metrics an evaluation with this suite reports."""
        extra = ["perplexity"] if self.perplexity else []
        extra += ["cost"] if self.price_per_1k_tokens is not None else []
        return [*self.metrics, *(j.metric for j in self.judges if j.kind != "pairwise"),
                "latency_ms", "tokens", *extra]


def make_suite(values: dict[str, Any], *, file: str | Path | None = None) -> Suite:
    """A suite from a YAML `file` (optional) overridden by `values` (None = unset).

    Raises:
        InvalidInput: a field is wrong, a metric is unknown, or a threshold names a metric
            the suite does not produce.
    """
    merged: dict[str, Any] = {}
    if file is not None:
        try:
            loaded = yaml.safe_load(Path(file).read_text())
        except OSError as exc:
            raise InvalidInput(f"cannot read suite {str(file)!r}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise InvalidInput(f"suite {str(file)!r} is not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise InvalidInput(f"suite {str(file)!r} must hold a mapping")
        merged.update(loaded)
    merged.update({k: v for k, v in values.items() if v is not None})
    try:
        suite = Suite.model_validate(merged)
    except ValidationError as exc:
        where = f" {file}" if file else ""
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidInput(f"invalid suite{where}: {problems}") from exc
    check_metrics(suite.metrics)
    unknown = [k for k in suite.thresholds if k not in suite.produces]
    if unknown:
        raise InvalidInput(f"threshold on {unknown[0]!r}, which the suite does not produce "
                           f"(it produces {', '.join(suite.produces)})")
    return suite
