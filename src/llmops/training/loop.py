"""The one training loop: every recipe runs through `train`.

    resolve data, recipe and base (fail fast, before any weights load)
    -> start a run (params, lineage inputs, the resolved config as an artifact)
    -> load tokenizer and model, wrap LoRA, build the TRL trainer the recipe names
    -> train with live metrics and checkpoints into the artifact store
    -> evaluate, save the output folder as the run's ``model`` artifact
    -> register it as a model version (optional), with lineage

`resume` continues a killed or failed run from its last stored checkpoint in a new run
that points back at it, and ends at the same final step.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from llmops.errors import Conflict, InvalidInput, NotFound, ResourceExhausted
from llmops.registry.models import ModelVersion
from llmops.training.base import (
    ResolvedBase,
    load_model,
    load_tokenizer,
    quiet_libraries,
    resolve_base,
)
from llmops.training.config import TrainConfig, make_config
from llmops.training.recipes import Recipe, check_kind, get_recipe, prompt_formatter

CONFIG_ARTIFACT = "llmops-train.yaml"
OUTPUT_ARTIFACT = "model"
Progress = Callable[[int, int], None]


class TrainResult(BaseModel):
    """What a training produced: the run, its final step and metrics, and the version."""

    run_id: str
    status: str
    steps: int
    metrics: dict[str, float] = Field(default_factory=dict)
    artifact: str  # digest of the output folder
    model: ModelVersion | None = None
    notes: list[str] = Field(default_factory=list)
    resumed_from: str | None = None


@dataclass
class _Plan:
    """Everything resolved before a run starts or any weights load."""

    config: TrainConfig
    recipe: Recipe
    train_ref: str
    eval_ref: str | None
    dataset_ids: list[str]
    examples: list[dict[str, Any]]
    eval_examples: list[dict[str, Any]]
    base: ResolvedBase
    prompt_id: str | None = None
    notes: list[str] = field(default_factory=list)
    # set by callers such as `llmops.tuning`: the run's parent run, and extra trainer
    # callbacks, each made for the run (run -> TrainerCallback)
    parent: str | None = None
    callbacks: list[Callable[[Any], Any]] = field(default_factory=list)


def _split_ref(ref: str, splits: dict[str, Any] | None, wanted: tuple[str, ...]) -> str | None:
    names = set((splits or {}).get("counts", {}) or (splits or {}).get("fractions", {}))
    return next((f"{ref}#{s}" for s in wanted if s in names), None)


def plan(config: TrainConfig) -> _Plan:
    """Resolve everything a training needs; raise before any weights load."""
    from llmops import datasets
    from llmops.refs import parse_ref

    recipe = get_recipe(config.recipe)
    if config.backend == "ray":  # Ray installed, stores shared, address answers: fail first
        from llmops.training.ray_backend import connect

        connect(config)
    parsed = parse_ref(config.data, default_kind="dataset")
    version = datasets.get_version(config.data)
    check_kind(recipe, version.kind, version.ref)
    base_ref = version.ref
    train_ref = config.data if parsed.split else (
        _split_ref(base_ref, version.splits, ("train",)) or base_ref)
    eval_ref = config.eval_data or (None if parsed.split and parsed.split != "train" else
                                    _split_ref(base_ref, version.splits,
                                               ("val", "validation", "dev")))
    if config.qlora and config.backend == "ray" and not config.gpus_per_worker:
        raise InvalidInput("--qlora loads the base in 4 bits with bitsandbytes, which needs"
                           " a CUDA GPU: give the Ray workers --gpus-per-worker 1, or use --lora")
    if config.qlora and config.backend == "local":
        import torch

        if not torch.cuda.is_available():
            raise InvalidInput("--qlora loads the base in 4 bits with bitsandbytes, which needs"
                               " a CUDA GPU; on this machine use --lora")
        try:
            import bitsandbytes  # noqa: F401
        except ImportError:
            raise InvalidInput("--qlora needs bitsandbytes: pip install bitsandbytes") from None
    fmt, prompt_id = prompt_formatter(config.prompt, config.prompt_vars)
    examples = [recipe.example(r, version.kind, fmt) for r in datasets.iter_rows(train_ref)]
    if not examples:
        raise InvalidInput(f"{train_ref} has no rows to train on")
    shapes = {tuple(sorted(e)) for e in examples}
    if len(shapes) > 1:
        first = next(i for i, e in enumerate(examples) if tuple(sorted(e)) != tuple(
            sorted(examples[0])))
        raise InvalidInput(f"{train_ref}: row {first} ends with a "
                           f"{'non-assistant' if 'messages' in examples[first] else 'assistant'}"
                           " message and row 0 does not: SFT needs every chat row to end with "
                           "the assistant's answer (or none to)")
    eval_examples = ([recipe.example(r, version.kind, fmt) for r in datasets.iter_rows(eval_ref)]
                     if eval_ref else [])
    base = resolve_base(config.base)
    from llmops.registry.compress import check_trainable

    check_trainable(base)  # quantized weights do not train; their source does
    # what `resume` reloads: versions pinned, so a new dataset version, an alias move or
    # another machine cannot change what the rest of the run trains on
    pinned: dict[str, Any] = {"data": train_ref, "eval_data": eval_ref}
    if base.version is not None:
        pinned["base"] = base.version.ref
    elif Path(config.base).expanduser().is_dir():
        pinned["base"] = str(Path(config.base).expanduser().resolve())
    if config.prompt:
        from llmops.prompts.registry import LocalPromptRegistry
        from llmops.workspace import Workspace

        pinned["prompt"] = LocalPromptRegistry(Workspace.open()).get(config.prompt).ref
    if config.packing is None and config.backend == "ray":
        pinned["packing"] = config.gpus_per_worker > 0  # the workers' devices, not ours
    elif config.packing is None:
        import torch

        pinned["packing"] = torch.cuda.is_available()
    config = config.model_copy(update=pinned)
    return _Plan(config, recipe, train_ref, eval_ref, [version.id], examples, eval_examples,
                 base, prompt_id, list(base.notes))


def _params(config: TrainConfig) -> dict[str, Any]:
    import json

    return {k: json.dumps(v) if isinstance(v, list | dict) else v
            for k, v in config.resolved().items() if v is not None}


def _trainer_args(p: _Plan, workdir: Path, gpu: bool, config_class: type) -> Any:
    import torch

    c = p.config
    bf16 = gpu and torch.cuda.is_bf16_supported()
    return config_class(
        output_dir=str(workdir / "trainer"), num_train_epochs=c.epochs,
        max_steps=c.max_steps or -1, learning_rate=c.lr, per_device_train_batch_size=c.batch_size,
        per_device_eval_batch_size=c.batch_size, gradient_accumulation_steps=c.grad_accum,
        lr_scheduler_type=c.scheduler, warmup_steps=c.warmup_ratio, weight_decay=c.weight_decay,
        seed=c.seed, data_seed=c.seed, logging_steps=c.log_every, save_strategy="steps",
        save_steps=c.checkpoint_every,
        eval_strategy="steps" if c.eval_every and p.eval_examples else "no",
        eval_steps=c.eval_every, report_to=[], disable_tqdm=True, bf16=bf16, fp16=False,
        use_cpu=not gpu, activation_checkpointing=c.gradient_checkpointing,
        dataloader_num_workers=0, **p.recipe.options(c, gpu))


def _lora(config: TrainConfig) -> Any:
    from peft import LoraConfig

    return LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha,
                      lora_dropout=config.lora_dropout, target_modules=config.target_modules,
                      task_type="CAUSAL_LM")


def _execute(p: _Plan, run: Any, workdir: Path, progress: Progress | None,
             checkpoint: Path | None, *, wrap: Callable[[Any], Any] | None = None
             ) -> tuple[int, dict[str, float], Path]:
    """Load, train, evaluate and save; returns (final step, metrics, output folder).

    `run` None: a data-parallel worker other than rank 0, which records nothing. `wrap`
    adapts the trainer to a launcher (Ray Train's `prepare_trainer`)."""
    import torch
    from datasets import Dataset
    from transformers import PrinterCallback

    from llmops.training.callbacks import CheckpointCallback, TrackingCallback

    quiet_libraries()
    gpu = torch.cuda.is_available()
    c = p.config
    quantization = None
    if c.qlora:
        from transformers import BitsAndBytesConfig

        quantization = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                          bnb_4bit_compute_dtype=torch.bfloat16)
    tokenizer = load_tokenizer(p.base)
    dtype = torch.bfloat16 if gpu and torch.cuda.is_bf16_supported() else torch.float32
    model = load_model(p.base, dtype=dtype, quantization=quantization)
    trainer_class, config_class = p.recipe.classes()
    extra: dict[str, Any] = {}
    if p.recipe.reference and not c.lora:
        extra["ref_model"] = load_model(p.base, dtype=dtype)
    trainer = trainer_class(
        model=model, args=_trainer_args(p, workdir, gpu, config_class),
        train_dataset=Dataset.from_list(p.examples),
        eval_dataset=Dataset.from_list(p.eval_examples) if p.eval_examples else None,
        processing_class=tokenizer, peft_config=_lora(c) if c.lora else None,
        callbacks=[TrackingCallback(run, progress), CheckpointCallback(run),
                   *(make(run) for make in p.callbacks)] if run is not None else [],
        **extra)
    trainer.remove_callback(PrinterCallback)  # metrics go to the run, not to stdout
    if wrap is not None:
        trainer = wrap(trainer)
    try:
        output = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
        metrics = {"train_loss": float(output.training_loss)}
        if p.eval_examples:
            evaluated = trainer.evaluate()  # logged to the run by TrackingCallback.on_log
            if "eval_loss" in evaluated:
                metrics["eval_loss"] = float(evaluated["eval_loss"])
    except torch.OutOfMemoryError as exc:
        raise ResourceExhausted(
            f"out of memory at step {trainer.state.global_step}: {exc}. Lower --batch-size or "
            "--max-length, or use --lora, --qlora or --gradient-checkpointing") from exc
    out = workdir / "model"
    trainer.save_model(str(out))
    tokenizer.save_pretrained(str(out))
    (out / "training_args.bin").unlink(missing_ok=True)  # a pickle; the YAML below says it all
    (out / CONFIG_ARTIFACT).write_text(c.to_yaml())
    return trainer.state.global_step, metrics, out


def store_output(p: _Plan, run: Any, out: Path, metrics: dict[str, float]
                 ) -> tuple[str, ModelVersion | None]:
    """Store the output folder as the run's model artifact and register it (optional);
    returns (artifact digest, version)."""
    from llmops.registry import open_registry

    c = p.config
    artifact = run.log_artifact(out, name=OUTPUT_ARTIFACT)
    version = None
    if c.register_name:
        sources: dict[str, Any] = {"datasets": p.dataset_ids, "train": p.train_ref,
                                   "eval": p.eval_ref}
        if p.prompt_id:
            sources["prompt"] = p.prompt_id
        version = open_registry().register(
            c.register_name, out, format="lora" if c.lora else "full",
            base=c.base_label or c.base,  # pinned in plan(): loadable later
            base_version_id=p.base.version.id if p.base.version else None,
            run_id=run.id, sources=sources, metrics=metrics)
        run.set_tag("registered", version.ref)
    return artifact.digest, version


def _run(p: _Plan, *, progress: Progress | None, resumed: tuple[str, Path | None] | None
         ) -> TrainResult:
    from llmops.tracking import start_run
    from llmops.workspace import Workspace

    c = p.config
    name = c.name or f"{c.recipe}-{Path(p.base.ref).name.replace('model:', '')}"
    tags = {"llmops.kind": "training", "recipe": c.recipe,
            "method": "qlora" if c.qlora else "lora" if c.lora else "full"}
    if resumed:
        tags["resumed_from"] = resumed[0]
        name = f"{name}-resumed"
    home = Workspace.open().settings.home_path
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="train-", dir=home / "tmp"))
    try:
        with start_run(experiment=c.experiment, name=name, params=_params(c),
                       tags=tags, parent=p.parent) as run:
            if resumed:
                run.tracking.add_lineage(f"run:{resumed[0]}", f"run:{run.id}", "resumed")
            for dataset_id in p.dataset_ids:
                run.log_input(f"dataset:{dataset_id}")
            if p.prompt_id:
                run.log_input(f"prompt:{p.prompt_id}")
            if p.base.version is not None:
                run.log_input(f"model:{p.base.version.id}", "base")
            if p.notes:
                run.set_tag("notes", "; ".join(p.notes))
            (workdir / CONFIG_ARTIFACT).write_text(c.to_yaml())
            run.log_artifact(workdir / CONFIG_ARTIFACT, name=CONFIG_ARTIFACT)
            checkpoint = resumed[1] if resumed else None
            if c.backend == "ray":
                from llmops.training.ray_backend import train_on_ray

                steps, metrics, digest, version = train_on_ray(p, run, workdir, progress,
                                                                checkpoint)
            else:
                steps, metrics, out = _execute(p, run, workdir, progress, checkpoint)
                digest, version = store_output(p, run, out, metrics)
        return TrainResult(run_id=run.id, status=run.info.status, steps=steps, metrics=metrics,
                           artifact=digest, model=version, notes=p.notes,
                           resumed_from=resumed[0] if resumed else None)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def train(config: TrainConfig | None = None, *, progress: Progress | None = None,
          **options: Any) -> TrainResult:
    """Fine-tune a model with the recipe `config.recipe` (or keyword options).

    Example:
        >>> llmops.train(recipe="sft", base="model:tiny-travel@1", data="travel-qa@1",
        ...              lora=True, epochs=3, register="travel-assistant")

    Raises:
        InvalidInput: a bad option, a dataset kind the recipe does not take, a base model
            that cannot load (pickle weights, not available offline), QLoRA without CUDA;
            all before any weights load.
        ResourceExhausted: out of memory, or no disk for a checkpoint (the run is failed).
    """
    if config is None:
        config = make_config(options)
    elif options:
        config = make_config({**config.resolved(), **options})
    return run_plan(plan(config), progress=progress)


def run_plan(p: _Plan, *, progress: Progress | None = None) -> TrainResult:
    """Run what `plan` resolved (the CLI plans first, so errors come before its bar)."""
    return _run(p, progress=progress, resumed=None)


def resume(run_id: str, *, progress: Progress | None = None) -> TrainResult:
    """Continue training run `run_id` (killed, interrupted or failed) from its last stored
    checkpoint, in a new run linked to it; the old run is marked interrupted."""
    import yaml

    from llmops.tracking import open_tracking
    from llmops.training.callbacks import CHECKPOINT_PREFIX

    tracking = open_tracking()
    reap = getattr(tracking, "reap_dead_runs", None)
    if reap is not None:
        reap()
    old = tracking.get_run(run_id)
    if old.status == "running":
        raise Conflict(f"run {run_id} is still running (process {old.pid} on {old.host}); "
                       "stop it first")
    if old.status == "finished":
        raise Conflict(f"run {run_id} already finished; there is nothing to resume")
    names = {a.name for a in old.artifacts}
    if CONFIG_ARTIFACT not in names:
        raise NotFound(f"run {run_id} is not a training run (it has no {CONFIG_ARTIFACT})")
    home = tempfile.mkdtemp(prefix="resume-")
    try:
        path = tracking.download_artifact(run_id, CONFIG_ARTIFACT, Path(home) / "config.yaml")
        config = make_config(yaml.safe_load(path.read_text()))
        p = plan(config)
        folder = None
        source: Any = old
        for _ in range(20):  # a resumed run that died before its own first checkpoint
            checkpoints = sorted(a.name for a in source.artifacts
                                 if a.name.startswith(CHECKPOINT_PREFIX))
            if checkpoints or "resumed_from" not in source.tags:
                break
            source = tracking.get_run(source.tags["resumed_from"])
        if checkpoints:
            folder = tracking.download_artifact(source.id, checkpoints[-1],
                                                Path(home) / checkpoints[-1].rsplit("/")[-1])
            p.notes.append(f"resumed from {checkpoints[-1]} of run {source.id}")
        else:
            p.notes.append(f"run {run_id} stored no checkpoint: started from step 0")
        return _run(p, progress=progress, resumed=(run_id, folder))
    finally:
        shutil.rmtree(home, ignore_errors=True)
