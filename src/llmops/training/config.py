"""`TrainConfig`: one signature for the Python function, the CLI flags and the YAML recipe.

A YAML recipe file holds the same fields; flags given on the command line override it.
The resolved configuration is saved with the run (``llmops-train.yaml`` in the output)
so `llmops train resume` and anyone reading the run knows exactly what ran.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, ValidationError

from llmops.errors import InvalidInput


class TrainConfig(BaseModel):
    """What to train, on what, and how. Every field is also a CLI flag and a YAML key."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    recipe: str = Field(description="Training method: sft or dpo.")
    base: str = Field(description="Base model: a Hugging Face id, a local folder or "
                                  "model:NAME@VERSION|ALIAS.")
    base_label: str | None = Field(None, description="How the base is recorded on the "
                                   "registered version (default: base as given).")
    data: str = Field(description="Dataset version and split, e.g. travel-qa@1#train "
                                  "(no split: the train split when there is one).")
    eval_data: str | None = Field(None, description="Evaluation split (default: the "
                                  "dataset's val or validation split, when there is one).")
    prompt: str | None = Field(None, description="A prompt version whose template formats "
                               "each row; the row's fields are its variables.")
    prompt_vars: dict[str, str] = Field(default_factory=dict, description="Fixed prompt "
                                        "variables for every row (e.g. agency).")
    lora: bool = Field(False, description="Train a LoRA adapter instead of all weights.")
    qlora: bool = Field(False, description="LoRA on a 4-bit base (bitsandbytes, CUDA only).")
    lora_r: PositiveInt = 16
    lora_alpha: PositiveInt = 32
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: str | list[str] = "all-linear"
    epochs: PositiveFloat = 1.0
    max_steps: PositiveInt | None = Field(None, description="Stop after this many optimizer "
                                          "steps (overrides epochs).")
    lr: PositiveFloat = Field(2e-4, description="Peak learning rate.")
    batch_size: PositiveInt = 8
    grad_accum: PositiveInt = 1
    max_length: PositiveInt = 1024
    warmup_ratio: float = Field(0.0, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    scheduler: str = "linear"
    seed: int = 42
    packing: bool | None = Field(None, description="Pack short rows into full sequences "
                                 "(default: on with a GPU, off on CPU).")
    completion_only: bool = Field(True, description="SFT loss on the answers only.")
    beta: PositiveFloat = Field(0.1, description="DPO: strength of the pull towards the "
                                "reference model.")
    gradient_checkpointing: bool = False
    checkpoint_every: PositiveInt = Field(50, description="Store a checkpoint every N steps.")
    eval_every: PositiveInt | None = Field(None, description="Evaluate every N steps (default:"
                                           " at the end only).")
    log_every: PositiveInt = Field(1, description="Log metrics every N steps.")
    register_name: str | None = Field(None, alias="register", description="Register the "
                                      "result as the next version of this model name.")
    experiment: str = "training"
    name: str | None = None
    backend: Literal["local", "ray"] = Field("local", description="Where training runs: in "
                                             "this process, or on Ray Train workers (data "
                                             "parallel).")
    ray_address: str | None = Field(None, description="With --backend ray: auto, "
                                    "ray://HOST:10001 or HOST:6379 (default: a local Ray "
                                    "instance).")
    workers: PositiveInt = Field(1, description="With --backend ray: data-parallel workers.")
    gpus_per_worker: float = Field(0, ge=0, description="With --backend ray: GPUs per worker "
                                   "(0: CPUs and gloo; 1 or more: NCCL).")

    def resolved(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.resolved(), sort_keys=False)


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}"
                     for e in exc.errors())


def make_config(values: dict[str, Any], *, file: str | Path | None = None) -> TrainConfig:
    """A config from a YAML recipe `file` (optional) overridden by `values` (None = unset).

    Raises:
        InvalidInput: naming each field that is wrong (a usage error on the CLI).
    """
    merged: dict[str, Any] = {}
    if file is not None:
        path = Path(file)
        try:
            loaded = yaml.safe_load(path.read_text())
        except OSError as exc:
            raise InvalidInput(f"cannot read recipe file {str(path)!r}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise InvalidInput(f"recipe file {str(path)!r} is not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise InvalidInput(f"recipe file {str(path)!r} must hold a mapping of options")
        merged.update({k.replace("-", "_"): v for k, v in loaded.items()})
    merged.update({k: v for k, v in values.items() if v is not None})
    try:
        config = TrainConfig.model_validate(merged)
    except ValidationError as exc:
        where = f" in {file}" if file else ""
        raise InvalidInput(f"invalid training options{where}: {_problems(exc)}") from exc
    from llmops.training.recipes import get_recipe

    get_recipe(config.recipe)
    if config.backend == "local" and (config.ray_address or config.workers > 1
                                      or config.gpus_per_worker):
        raise InvalidInput("--ray-address, --workers and --gpus-per-worker take effect on Ray:"
                           " add --backend ray")
    if config.qlora:
        config = config.model_copy(update={"lora": True})
    return config
