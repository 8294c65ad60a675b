"""A search space: which `TrainConfig` fields a study varies, and how.

    # space.yaml
    lr:         {type: float, low: 1.0e-5, high: 1.0e-3, log: true}
    lora_r:     {type: categorical, choices: [4, 8, 16]}
    max_steps:  {type: int, low: 4, high: 8}
    beta:       {type: uniform, low: 0.05, high: 0.5}     # DPO
    fixed:                                                # every trial, not searched
      lora: true
      eval_every: 2

Distributions: ``float`` (``log: true`` for log-uniform, optional ``step``), ``uniform``,
``loguniform`` (also spelt ``log-uniform``), ``int`` (optional ``log``, ``step``) and
``categorical`` (``choices``). Every parameter must be a `TrainConfig` field that a
trial may vary (``learning_rate`` is accepted for ``lr``), and every bound or choice must
be a value that field accepts, so a bad space fails before the first trial, naming the
parameter.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from llmops.errors import InvalidInput
from llmops.training.config import TrainConfig

ALIASES = {"learning_rate": "lr"}
# what a trial is, not how it trains: fixed by the study, never searched
NOT_SEARCHABLE = frozenset({
    "recipe", "base", "base_label", "data", "eval_data", "prompt", "prompt_vars",
    "register_name", "register", "experiment", "name", "backend", "ray_address", "workers",
    "gpus_per_worker", "checkpoint_every", "log_every", "eval_every"})
# set by `tune` for every trial; a trial on Ray is a Ray task, not a Ray Train job
STUDY_OWNED = frozenset({"recipe", "base", "data", "register", "register_name", "name",
                         "backend", "ray_address", "workers", "gpus_per_worker"})
KINDS = {"float": "float", "uniform": "float", "loguniform": "float", "log-uniform": "float",
         "log_uniform": "float", "int": "int", "categorical": "categorical"}
_KEYS = {"float": {"type", "low", "high", "log", "step"},
         "int": {"type", "low", "high", "log", "step"},
         "categorical": {"type", "choices"}}
_PROBE = {"recipe": "sft", "base": "x", "data": "x"}  # required fields, for checking values


class Param(BaseModel):
    """One searched parameter."""

    model_config = ConfigDict(frozen=True)

    name: str
    kind: str  # float | int | categorical
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()

    def distribution(self) -> Any:
        """The Optuna distribution of this parameter."""
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        if self.kind == "categorical":
            return CategoricalDistribution(list(self.choices))
        if self.kind == "int":
            return IntDistribution(int(self.low or 0), int(self.high or 0), log=self.log,
                                   step=int(self.step or 1))
        return FloatDistribution(float(self.low or 0), float(self.high or 0), log=self.log,
                                 step=self.step)


class SearchSpace(BaseModel):
    """The searched parameters and the fixed `TrainConfig` options of every trial."""

    params: tuple[Param, ...]
    fixed: dict[str, Any] = {}

    def distributions(self) -> dict[str, Any]:
        return {p.name: p.distribution() for p in self.params}

    def suggest(self, trial: Any) -> dict[str, Any]:
        """This trial's values, asked of Optuna's sampler."""
        values: dict[str, Any] = {}
        for p in self.params:
            if p.kind == "categorical":
                values[p.name] = trial.suggest_categorical(p.name, list(p.choices))
            elif p.kind == "int":
                values[p.name] = trial.suggest_int(p.name, int(p.low or 0), int(p.high or 0),
                                                   step=int(p.step or 1), log=p.log)
            else:
                values[p.name] = trial.suggest_float(p.name, float(p.low or 0),
                                                     float(p.high or 0), step=p.step,
                                                     log=p.log)
        return values

    def to_data(self) -> dict[str, Any]:
        """The space as its YAML mapping (stored with the study, so joiners use it)."""
        out: dict[str, Any] = {}
        for p in self.params:
            if p.kind == "categorical":
                out[p.name] = {"type": "categorical", "choices": list(p.choices)}
            else:
                spec: dict[str, Any] = {"type": p.kind, "low": p.low, "high": p.high}
                if p.log:
                    spec["log"] = True
                if p.step is not None:
                    spec["step"] = p.step
                out[p.name] = spec
        if self.fixed:
            out["fixed"] = dict(self.fixed)
        return out


def _fail(where: str, name: str, why: str) -> InvalidInput:
    return InvalidInput(f"search space{where}: parameter {name!r}: {why}",
                        errors=[{"field": name, "message": why}])


def _check_value(where: str, name: str, value: Any, what: str) -> None:
    """Raise unless `TrainConfig` accepts `value` for field `name`."""
    try:
        TrainConfig.model_validate({**_PROBE, name: value})
    except ValidationError as exc:
        why = "; ".join(e["msg"] for e in exc.errors())
        shown = f"{value:g}" if isinstance(value, float) else repr(value)
        raise _fail(where, name, f"{what} {shown} is not a valid {name}: {why}") from None


def _number(where: str, name: str, spec: dict[str, Any], key: str, integer: bool) -> float:
    if key not in spec:
        raise _fail(where, name, f"needs {key!r}")
    value = spec[key]
    if isinstance(value, str):  # YAML reads 1e-5 (no dot) as a string
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
            value):
        raise _fail(where, name, f"{key} must be a number, not {spec[key]!r}")
    if integer and value != int(value):
        raise _fail(where, name, f"{key} must be a whole number for an int parameter, not "
                                 f"{value!r}")
    return float(value)


def _param(where: str, raw_name: str, spec: Any) -> Param:
    name = ALIASES.get(raw_name, raw_name)
    fields = TrainConfig.model_fields
    if name not in fields:
        raise _fail(where, raw_name, "not a training option (TrainConfig field); searchable "
                    "options: " + ", ".join(sorted(set(fields) - NOT_SEARCHABLE)))
    if name in NOT_SEARCHABLE:
        raise _fail(where, raw_name, "fixed for a study, not searchable")
    if not isinstance(spec, dict):
        raise _fail(where, raw_name, "must be a mapping like {type: float, low: 1e-5, "
                    "high: 1e-3, log: true}")
    given = str(spec.get("type", ""))
    kind = KINDS.get(given)
    if kind is None:
        raise _fail(where, raw_name, f"unknown distribution {given or '(none)'!r}: use "
                    + ", ".join(KINDS))
    unknown = sorted(set(spec) - _KEYS[kind])
    if unknown:
        raise _fail(where, raw_name, f"unknown key {unknown[0]!r} for a {given} "
                    f"distribution (it takes {', '.join(sorted(_KEYS[kind]))})")
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise _fail(where, raw_name, "categorical needs a non-empty list 'choices'")
        for choice in choices:
            if choice is not None and not isinstance(choice, str | int | float | bool):
                raise _fail(where, raw_name, f"choice {choice!r} is not a plain value")
            _check_value(where, name, choice, "choice")
        if len({repr(c) for c in choices}) != len(choices):
            raise _fail(where, raw_name, "choices repeat a value")
        return Param(name=name, kind=kind, choices=tuple(choices))
    integer = kind == "int"
    low = _number(where, raw_name, spec, "low", integer)
    high = _number(where, raw_name, spec, "high", integer)
    log = spec.get("log", given in ("loguniform", "log-uniform", "log_uniform"))
    if not isinstance(log, bool):
        raise _fail(where, raw_name, f"log must be true or false, not {log!r}")
    if low > high:
        raise _fail(where, raw_name, f"low {low:g} > high {high:g}")
    if log and low <= 0:
        raise _fail(where, raw_name, f"a log distribution needs low > 0, not {low:g}")
    step = _number(where, raw_name, spec, "step", integer) if "step" in spec else None
    if step is not None and (step <= 0 or log):
        raise _fail(where, raw_name, "step must be > 0, and cannot combine with log")
    for key, value in (("low", low), ("high", high)):
        _check_value(where, name, int(value) if integer else value, key)
    return Param(name=name, kind=kind, low=low, high=high, log=log, step=step)


def make_space(data: Any, *, where: str = "") -> SearchSpace:
    """A validated space from its mapping (the YAML file's content).

    Raises:
        InvalidInput: an empty space, an unknown option or distribution, low > high, a
            bound or choice the option does not accept; names the parameter.
    """
    if data is None or data == {}:
        raise InvalidInput(f"search space{where} declares no parameters: add at least one, "
                           "e.g. lr: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}")
    if not isinstance(data, dict):
        raise InvalidInput(f"search space{where} must be a mapping of parameter names to "
                           "distributions")
    fixed = data.get("fixed") or {}
    if not isinstance(fixed, dict):
        raise InvalidInput(f"search space{where}: 'fixed' must be a mapping of training "
                           "options")
    fixed = {ALIASES.get(str(k), str(k)).replace("-", "_"): v for k, v in fixed.items()}
    params = [_param(where, str(k), v) for k, v in data.items() if k != "fixed"]
    if not params:
        raise InvalidInput(f"search space{where} declares no parameters (only 'fixed'): "
                           "add at least one")
    names = [p.name for p in params]
    twice = next((n for n in names if names.count(n) > 1), None)
    if twice:
        raise _fail(where, twice, "declared twice (learning_rate is lr)")
    both = sorted(set(names) & set(fixed))
    if both:
        raise _fail(where, both[0], "both searched and fixed")
    bad = sorted(set(fixed) - set(TrainConfig.model_fields))
    if bad:
        raise InvalidInput(f"search space{where}: fixed option {bad[0]!r} is not a training "
                           "option (TrainConfig field)")
    owned = sorted(set(fixed) & STUDY_OWNED)
    if owned:
        raise InvalidInput(f"search space{where}: fixed option {owned[0]!r} is set by the "
                           "study itself (--recipe, --base, --data, --register, --backend)")
    return SearchSpace(params=tuple(params), fixed=fixed)


def load_space(source: str | Path | dict[str, Any]) -> SearchSpace:
    """A space from a YAML file, or from its mapping."""
    if isinstance(source, dict):
        return make_space(source)
    path = Path(source)
    try:
        loaded = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise InvalidInput(f"cannot read search space {str(path)!r}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise InvalidInput(f"search space {str(path)!r} is not valid YAML: {exc}") from None
    return make_space(loaded, where=f" {path}")
