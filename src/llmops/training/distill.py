"""Knowledge distillation: a small student learns from a larger teacher.

    sequence  the teacher answers the prompts of a dataset (batched local generation),
              the answers become a chat dataset version (lineage: the source dataset
              and the teacher), and the student is fine-tuned on it with the SFT recipe
    logits    the student is fine-tuned on the dataset itself, with a loss that also
              pulls its next-token distribution towards the teacher's (KL divergence at
              a temperature, Hinton et al. 2015); needs one shared vocabulary

Both run through the one training loop (`llmops.training.loop`): the same run, metrics,
checkpoints and registration. The student version's lineage points at the teacher
(``model:TEACHER -> model:STUDENT``, relation ``teacher``), and so does the run's.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import BaseModel, Field

from llmops.errors import InvalidInput
from llmops.training.loop import TrainResult
from llmops.training.recipes import Recipe, get_recipe, prompt_variables

METHODS = ("sequence", "logits")
EXPERIMENT = "distillation"
Progress = Callable[[int, int], None]
Bars = Callable[[str], Progress]  # label -> a progress callback (one bar per phase)
Messages = list[dict[str, str]]


class DistillResult(BaseModel):
    """What a distillation made: the teacher's answers (sequence), the training run and
    the student version."""

    method: str
    teacher: str  # the teacher as resolved (model:NAME@N, or the folder / hub id)
    dataset: str | None = None  # sequence: the dataset version of the teacher's answers
    answered: int = 0
    skipped: int = 0  # prompts the teacher answered with nothing (left out)
    train: TrainResult
    notes: list[str] = Field(default_factory=list)


def _prompt(row: dict[str, Any], kind: str, data: str) -> Messages:
    """The prompt side of one row: what the teacher is asked."""
    if kind == "chat":
        messages = [dict(m) for m in row["messages"]]
        while messages and messages[-1].get("role") == "assistant":
            messages.pop()
        if not messages:
            raise InvalidInput(f"{data}: row {row.get('_id')} holds no prompt (only "
                               "assistant messages)")
        return messages
    if kind == "instruction":
        return [{"role": "user", "content": str(prompt_variables(row, kind)["question"])}]
    if kind == "eval":
        return [{"role": "user", "content": str(row["input"])}]
    if kind == "preference":
        prompt = row["prompt"]
        return [dict(m) for m in prompt] if isinstance(prompt, list) else [
            {"role": "user", "content": str(prompt)}]
    raise InvalidInput(f"{data} is a {kind!r} dataset, which has no prompts for the teacher "
                       "to answer: use a chat, instruction, eval or preference dataset")


def _check_options(method: str, student: str, data: str, register: str | None,
                   options: dict[str, Any]) -> Any:
    """Validate the training options before the teacher answers anything."""
    from llmops.training.config import make_config

    if method not in METHODS:
        raise InvalidInput(f"unknown distillation method {method!r}: use sequence or logits")
    for reserved in ("recipe", "base", "data"):
        if reserved in options:
            raise InvalidInput(f"{reserved!r} is set by distill itself")
    return make_config({"recipe": "sft", "base": student, "data": data, "register": register,
                        "experiment": EXPERIMENT, **options})


def _label(base: Any) -> str:
    return base.version.ref if base.version is not None else base.ref


def distill(teacher: str, student: str, data: str, *, register: str | None = None,
            method: str = "sequence", dataset_name: str | None = None,
            max_new_tokens: int = 128, batch_size: int = 16, temperature: float = 2.0,
            alpha: float = 0.5, progress: Bars | None = None,
            **train_options: Any) -> DistillResult:
    """Distill `teacher` into `student` on the prompts (or rows) of `data`.

    Args:
        teacher, student: model references (``model:NAME@SEL``), folders or hub ids.
        data: a dataset version or split.
        register: register the student as the next version of this model.
        method: ``sequence`` or ``logits``.
        dataset_name: sequence: the dataset the teacher's answers go to (default
            ``<data name>-from-<teacher name>``).
        max_new_tokens, batch_size: sequence: the teacher's generation.
        temperature, alpha: logits: softening of both distributions, and the weight of
            the loss on the data's own answers (1 - alpha goes to the KL term).
        progress: label -> progress callback, one per phase (teacher answers, training).
        train_options: `TrainConfig` fields for the student (lora, max_steps, lr, ...).

    Raises:
        InvalidInput: an unknown method or option, a dataset without prompts, logits with
            two vocabularies; all before the teacher or the student loads.
    """
    from llmops.training.base import resolve_base

    config = _check_options(method, student, data, register, train_options)
    if not 0 <= alpha <= 1:
        raise InvalidInput(f"alpha must be in [0, 1], not {alpha}")
    if temperature <= 0:
        raise InvalidInput(f"temperature must be positive, not {temperature}")
    teacher_base = resolve_base(teacher)
    student_base = resolve_base(student)
    from llmops.registry.compress import check_trainable

    check_trainable(student_base)
    name = config.name or f"distill-{method}-{_label(teacher_base).replace('model:', '')}"
    config = config.model_copy(update={"name": name.replace("@", "-").replace("/", "-")})
    if method == "logits":
        check_vocabularies(teacher_base, student_base)
        result = _logits(config, teacher_base, temperature, alpha, progress)
        out = DistillResult(method=method, teacher=_label(teacher_base), train=result,
                            notes=result.notes)
    else:
        out = _sequence(config, teacher_base, data, dataset_name, max_new_tokens,
                        batch_size, progress)
    _link_teacher(teacher_base, out.train)
    return out


def _link_teacher(teacher: Any, result: TrainResult) -> None:
    if teacher.version is None:
        return
    from llmops.tracking import open_tracking

    tracking = open_tracking()
    node = f"model:{teacher.version.id}"
    tracking.add_lineage(node, f"run:{result.run_id}", "teacher")
    if result.model is not None:
        tracking.add_lineage(node, f"model:{result.model.id}", "teacher")


# -- sequence-level -------------------------------------------------------------------------
def _sequence(config: Any, teacher: Any, data: str, dataset_name: str | None,
              max_new_tokens: int, batch_size: int, progress: Bars | None) -> DistillResult:
    from llmops import datasets
    from llmops.auth.audit import local_actor
    from llmops.datasets.importer import ImportOptions, import_records
    from llmops.evaluation.generate import LocalGenerator
    from llmops.refs import check_name, parse_ref
    from llmops.training.loop import plan, run_plan
    from llmops.workspace import Workspace

    source = datasets.get_version(data)
    split = parse_ref(data, default_kind="dataset").split
    rows = list(datasets.iter_rows(data))
    prompts = [_prompt(r, source.kind, source.ref) for r in rows]
    if not prompts:
        raise InvalidInput(f"{data} has no rows for the teacher to answer")
    teacher_name = _label(teacher).replace("model:", "").split("@")[0].rstrip("/")
    teacher_name = re.sub(r"[^a-z0-9._-]+", "-", teacher_name.split("/")[-1].lower())
    default = f"{source.dataset}-from-{teacher_name}"[:64].strip("-.")
    target = check_name(dataset_name or default, what="dataset name")
    bar = progress(f"teacher {_label(teacher)} answering") if progress else None
    generator = LocalGenerator(teacher.version.ref if teacher.version else teacher.ref)
    done = 0

    def answered(n: int) -> None:
        nonlocal done
        done += n
        if bar is not None:
            bar(done, len(prompts))

    if bar is not None:
        bar(0, len(prompts))
    answers = generator.generate(prompts, max_new_tokens=max_new_tokens,
                                 batch_size=batch_size, progress=answered)
    del generator  # the teacher's memory goes back before the student loads
    kept = [(p, a) for p, a in zip(prompts, answers, strict=True) if a.strip()]
    if not kept:
        raise InvalidInput(f"the teacher {_label(teacher)} answered none of the "
                           f"{len(prompts)} prompts of {data} (every answer was empty)")
    splits = source.splits or {}
    options = ImportOptions(
        kind="chat", split=None if split else splits.get("fractions"),
        seed=splits.get("seed", 42), sensitive=source.encrypted,
        description=f"answers of {_label(teacher)} to the prompts of {source.ref}",
        source={"type": "distill", "from": source.ref + (f"#{split}" if split else ""),
                "teacher": _label(teacher), "max_new_tokens": max_new_tokens,
                "skipped": len(prompts) - len(kept)},
        parent_ids=[source.id])
    records = ((f"row {i + 1}", {"messages": [*p, {"role": "assistant", "content": a}]})
               for i, (p, a) in enumerate(kept))
    report = import_records(Workspace.open(), target, records, options, actor=local_actor())
    version = report.version
    if teacher.version is not None:
        from llmops.tracking import open_tracking

        open_tracking().add_lineage(f"model:{teacher.version.id}", f"dataset:{version.id}",
                                    "generated")
    p = plan(config.model_copy(update={"data": version.ref}))
    p.notes.append(f"sequence-level distillation: trained on {version.ref}, the answers of "
                   f"{_label(teacher)} to {source.ref}")
    result = run_plan(p, progress=progress("training the student") if progress else None)
    return DistillResult(method="sequence", teacher=_label(teacher), dataset=version.ref,
                         answered=len(kept), skipped=len(prompts) - len(kept), train=result,
                         notes=result.notes)


# -- logits ---------------------------------------------------------------------------------
def check_vocabularies(teacher: Any, student: Any) -> None:
    """Refuse logit distillation across two vocabularies (tokenizers and logit sizes),
    reading only tokenizer and config files."""
    from transformers import AutoConfig

    from llmops.training.base import load_tokenizer

    sizes = [AutoConfig.from_pretrained(b.folders[0]).vocab_size for b in (teacher, student)]
    vocabularies = [load_tokenizer(b).get_vocab() for b in (teacher, student)]
    if sizes[0] != sizes[1] or vocabularies[0] != vocabularies[1]:
        same_count = len(vocabularies[0]) == len(vocabularies[1])
        detail = ("the same number of tokens, but different ones" if same_count
                  and sizes[0] == sizes[1] else
                  f"{len(vocabularies[0])} tokens and {sizes[0]} logits against "
                  f"{len(vocabularies[1])} tokens and {sizes[1]} logits")
        raise InvalidInput(
            f"logit distillation needs one vocabulary, and the teacher {_label(teacher)} and "
            f"the student {_label(student)} have {detail}; use --method sequence, which "
            "works across tokenizers")


@dataclass(frozen=True)
class _LogitRecipe(Recipe):
    """The SFT recipe with a trainer whose loss adds the KL to the teacher's logits."""

    teacher: Any = None  # ResolvedBase
    temperature: float = 2.0
    alpha: float = 0.5

    def classes(self) -> tuple[type, type]:
        from trl import SFTConfig

        recipe = self

        class BoundTrainer(_trainer_class()):  # type: ignore[misc]
            def __init__(self, **kwargs: Any) -> None:
                super().__init__(teacher=recipe.teacher, temperature=recipe.temperature,
                                 alpha=recipe.alpha, **kwargs)

        return BoundTrainer, SFTConfig


@cache
def _trainer_class() -> type:
    """`LogitDistillTrainer`, built on first use (TRL and torch import only then)."""
    import torch
    import torch.nn.functional as F
    from trl import SFTTrainer

    from llmops.training.base import load_model

    class LogitDistillTrainer(SFTTrainer):
        """SFT on the data's answers plus, on the same completion tokens, the KL divergence
        from the teacher's softened distribution to the student's:

            loss = alpha * CE(student, answer) + (1 - alpha) * T^2 * KL(teacher_T || student_T)
        """

        def __init__(self, *, teacher: Any, temperature: float, alpha: float,
                     **kwargs: Any) -> None:
            super().__init__(**kwargs)
            student: Any = self.model
            dtype = next(student.parameters()).dtype
            self.teacher = load_model(teacher, dtype=dtype).to(self.args.device).eval()
            self.teacher.requires_grad_(False)
            self.temperature, self.alpha = temperature, alpha

        def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                         num_items_in_batch: Any = None) -> Any:
            forward = {k: inputs[k] for k in ("input_ids", "attention_mask", "position_ids")
                       if k in inputs}
            outputs = model(**forward, use_cache=False)
            with torch.no_grad():
                teacher_logits = self.teacher(**forward, use_cache=False).logits
            labels = inputs["labels"][:, 1:]
            mask = labels != -100
            student = outputs.logits[:, :-1][mask].float()
            taught = teacher_logits[:, :-1][mask].float()
            count = mask.sum() if num_items_in_batch is None else num_items_in_batch
            count = torch.as_tensor(count, device=student.device).clamp(min=1)
            ce = F.cross_entropy(student, labels[mask], reduction="sum") / count
            t = self.temperature
            kl = F.kl_div(F.log_softmax(student / t, dim=-1), F.log_softmax(taught / t, dim=-1),
                          log_target=True, reduction="sum") / count * t * t
            loss = self.alpha * ce + (1 - self.alpha) * kl
            mode = "train" if model.training else "eval"
            self._metrics[mode]["distill_kl"].append(float(kl.detach()))
            self._metrics[mode]["distill_ce"].append(float(ce.detach()))
            return (loss, outputs) if return_outputs else loss

    return LogitDistillTrainer


def _logits(config: Any, teacher: Any, temperature: float, alpha: float,
            progress: Bars | None) -> TrainResult:
    from llmops.training.loop import plan, run_plan

    p = plan(config)
    sft = get_recipe("sft")
    p.recipe = _LogitRecipe(sft.name, sft.kinds, sft.example, sft.trainer, sft.options,
                            teacher=teacher, temperature=temperature, alpha=alpha)
    p.notes.append(f"logit distillation from {_label(teacher)} (temperature {temperature}, "
                   f"alpha {alpha})")
    return run_plan(p, progress=progress("training the student") if progress else None)
