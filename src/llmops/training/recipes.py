"""Recipes: what differs between training methods, and nothing else.

A recipe names the dataset kinds it accepts, turns one dataset row into the example
format its TRL trainer reads, and picks that trainer and its config class. The loop in
`llmops.training.loop` is shared: adding KTO or ORPO is one more `Recipe` here (a row
converter and two class names), not a new loop.

Examples are conversational (lists of messages) so that the tokenizer's chat template
formats them the same way at training and at inference; TRL then computes the loss on
the completion only (SFT) and builds the chosen/rejected pairs (DPO).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llmops.errors import InvalidInput

Message = dict[str, str]
# Renders a prompt version for one row: (row variables) -> messages
Formatter = Callable[[dict[str, Any]], list[Message]]


@dataclass(frozen=True)
class Recipe:
    """One training method.

    Attributes:
        name: the CLI name (``sft``, ``dpo``).
        kinds: dataset kinds it trains on.
        example: (row, dataset kind, formatter or None) -> one TRL example.
        trainer: the import path of the TRL trainer and its config class.
        options: (TrainConfig, on_gpu) -> recipe-specific config keyword arguments.
    """

    name: str
    kinds: tuple[str, ...]
    example: Callable[[dict[str, Any], str, Formatter | None], dict[str, Any]]
    trainer: tuple[str, str]
    options: Callable[[Any, bool], dict[str, Any]] = field(default=lambda config, gpu: {})
    # Full-weight training needs a frozen reference copy of the base (DPO, KTO); LoRA
    # uses the base with the adapter disabled. Passed explicitly, because the trainer
    # would otherwise reload it from the base's path, without any merged adapters.
    reference: bool = False

    def classes(self) -> tuple[type, type]:
        """(Trainer class, config class), imported on first use."""
        import importlib

        module = importlib.import_module("trl")
        return getattr(module, self.trainer[0]), getattr(module, self.trainer[1])


def _user(text: str) -> list[Message]:
    return [{"role": "user", "content": text}]


def _assistant(value: Any) -> list[Message]:
    if isinstance(value, list):
        return [dict(m) for m in value]
    return [{"role": "assistant", "content": str(value)}]


def _messages(value: Any) -> list[Message]:
    return [dict(m) for m in value] if isinstance(value, list) else _user(str(value))


def _instruction_parts(row: dict[str, Any]) -> tuple[str, str]:
    if "instruction" in row:
        question = row["instruction"] + (f"\n\n{row['input']}" if row.get("input") else "")
        return question, row["output"]
    return row["prompt"], row["response"]


def prompt_variables(row: dict[str, Any], kind: str) -> dict[str, Any]:
    """The variables a prompt version sees for one row: its fields, plus ``question``
    (the instruction, or the last user message) and ``answer``."""
    values = {k: v for k, v in row.items() if not k.startswith("_")}
    if kind == "instruction":
        values["question"], values["answer"] = _instruction_parts(row)
    elif kind == "chat":
        users = [m["content"] for m in row["messages"] if m.get("role") == "user"]
        values["question"] = users[-1] if users else ""
    elif kind == "preference":
        values["question"] = row["prompt"] if isinstance(row["prompt"], str) else next(
            (m["content"] for m in reversed(row["prompt"]) if m.get("role") == "user"), "")
    return values


def prompt_formatter(ref: str | None, fixed: dict[str, str] | None = None
                     ) -> tuple[Formatter | None, str | None]:
    """(formatter, prompt version id) for a chat prompt version, or (None, None).

    Each row renders the prompt with `fixed` variables plus the row's variables that the
    prompt declares (see `prompt_variables`)."""
    if ref is None:
        return None, None
    from llmops.prompts.registry import LocalPromptRegistry
    from llmops.workspace import Workspace

    registry = LocalPromptRegistry(Workspace.open())
    version = registry.get(ref)
    prompt = registry.compiled(version.ref)
    if not version.spec.messages:
        raise InvalidInput(f"prompt {version.ref} is a text template; formatting rows needs a "
                           "chat prompt (messages)")
    declared = set(version.spec.variables)

    def render(values: dict[str, Any]) -> list[Message]:
        chosen = {**(fixed or {}), **{k: v for k, v in values.items() if k in declared}}
        rendered = prompt.render(chosen)
        return [{"role": m["role"], "content": m["content"]} for m in rendered.messages or []]

    return render, version.id


def _sft_example(row: dict[str, Any], kind: str, fmt: Formatter | None) -> dict[str, Any]:
    if kind == "text":
        return {"text": row["text"]}
    if kind == "instruction":
        question, answer = _instruction_parts(row)
        prompt = fmt(prompt_variables(row, kind)) if fmt else _user(question)
        return {"prompt": prompt, "completion": _assistant(answer)}
    messages = row["messages"]
    last = len(messages) - 1
    if messages[last].get("role") != "assistant":
        return {"messages": [dict(m) for m in messages]}  # nothing to complete: learn it all
    prompt = fmt(prompt_variables(row, kind)) if fmt else [dict(m) for m in messages[:last]]
    return {"prompt": prompt, "completion": [dict(messages[last])]}


def _sft_options(config: Any, gpu: bool) -> dict[str, Any]:
    return {
        "max_length": config.max_length,
        "packing": gpu if config.packing is None else config.packing,
        "completion_only_loss": config.completion_only,
        "dataset_num_proc": None,
    }


def _dpo_example(row: dict[str, Any], kind: str, fmt: Formatter | None) -> dict[str, Any]:
    prompt = fmt(prompt_variables(row, kind)) if fmt else _messages(row["prompt"])
    return {"prompt": prompt, "chosen": _assistant(row["chosen"]),
            "rejected": _assistant(row["rejected"])}


def _dpo_options(config: Any, gpu: bool) -> dict[str, Any]:
    return {"max_length": config.max_length, "beta": config.beta}


RECIPES: dict[str, Recipe] = {}


def register_recipe(recipe: Recipe) -> None:
    """Make `recipe` available to `llmops train` and `llmops.train` by its name."""
    RECIPES[recipe.name] = recipe


register_recipe(Recipe("sft", ("chat", "instruction", "text"), _sft_example,
                       ("SFTTrainer", "SFTConfig"), _sft_options))
register_recipe(Recipe("dpo", ("preference",), _dpo_example,
                       ("DPOTrainer", "DPOConfig"), _dpo_options, reference=True))


def get_recipe(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise InvalidInput(f"unknown recipe {name!r}: use one of {', '.join(RECIPES)}") from None


def check_kind(recipe: Recipe, kind: str, data: str) -> None:
    """Fail before anything loads when the dataset kind does not fit the recipe."""
    if kind not in recipe.kinds:
        raise InvalidInput(
            f"recipe {recipe.name!r} cannot train on {data} (kind {kind!r}): it takes "
            f"{' or '.join(repr(k) for k in recipe.kinds)} datasets")
