"""Resolving and loading a base model: a registry version, a local folder or a hub id.

Only safetensors load: a folder of pickle weights (``.bin``, ``.pt``) is refused, since
unpickling runs code. A base that is a LoRA adapter is loaded on its own base and merged
first (recursively), so training always starts from full weights; the run says so.
With ``HF_HUB_OFFLINE=1`` a hub id that is not in the local cache fails at once.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmops.errors import InvalidInput
from llmops.registry.models import ModelVersion

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")
ADAPTER_CONFIG = "adapter_config.json"


@dataclass
class ResolvedBase:
    """Where a base model's files are.

    Attributes:
        ref: the reference as given.
        folders: full weights first, then each LoRA adapter to merge on top, in order.
        version: the registered version, when the base is one.
        note: how the base is used, for the run and the CLI (merged adapters).
    """

    ref: str
    folders: list[Path]
    version: ModelVersion | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def top(self) -> Path:
        """The folder with the tokenizer and chat template to train with."""
        return self.folders[-1]


def quiet_libraries() -> None:
    """Turn off the libraries' own progress bars and chatter: llmops draws one bar for
    the whole job and records what matters in the run."""
    import warnings

    from datasets import disable_progress_bars
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    disable_progress_bars()
    # peft reads an attribute transformers 5 renamed; nothing for a user to act on
    warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated",
                            category=FutureWarning)


def check_safetensors(folder: Path) -> None:
    """Refuse a folder whose weights are pickles; name the files and how to convert."""
    names = [p.name for p in folder.iterdir() if p.is_file()]
    safe = [n for n in names if n.endswith(".safetensors")]
    pickles = [n for n in names if n.endswith(PICKLE_SUFFIXES) and n != "training_args.bin"]
    if pickles and not safe:
        raise InvalidInput(
            f"model folder {str(folder)!r} holds pickle weights ({', '.join(sorted(pickles))});"
            " only safetensors load, since unpickling can run code. Convert them first, e.g. "
            "load with transformers and call save_pretrained(folder, safe_serialization=True)")
    if not safe:
        raise InvalidInput(f"model folder {str(folder)!r} holds no .safetensors weights")


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def _hub_folder(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, local_files_only=_offline(),
                                      allow_patterns=["*.json", "*.safetensors", "*.model",
                                                      "*.txt", "*.jinja", "*.tiktoken"]))
    except Exception as exc:
        if _offline():
            raise InvalidInput(
                f"model {repo_id!r} is not available offline (HF_HUB_OFFLINE=1 and it is not "
                "in the Hugging Face cache). Give a local folder (--base ./path/to/model) or "
                "a registered model (--base model:NAME@VERSION), or download it where there "
                "is network access") from None
        raise InvalidInput(f"cannot fetch model {repo_id!r} from the Hugging Face hub: "
                           f"{exc}") from exc


def _adapter_base(folder: Path) -> str:
    config = json.loads((folder / ADAPTER_CONFIG).read_text())
    base = config.get("base_model_name_or_path")
    if not base:
        raise InvalidInput(f"LoRA adapter {str(folder)!r} does not name its base model")
    return str(base)


def resolve_base(ref: str, *, _depth: int = 0) -> ResolvedBase:
    """Find the files of `ref`: ``model:NAME@SEL``, a folder path, a registered name, or a
    Hugging Face hub id, in that order."""
    if _depth > 8:
        raise InvalidInput(f"base model {ref!r}: adapters stacked more than 8 deep")
    from llmops.registry import open_registry

    registry = open_registry()
    path = Path(ref).expanduser()
    if not ref.startswith("model:") and path.is_dir():
        if (path / ADAPTER_CONFIG).is_file():
            below = resolve_base(_adapter_base(path), _depth=_depth + 1)
            return ResolvedBase(ref, [*below.folders, path], None, [
                *below.notes, f"{ref} is a LoRA adapter: merged into {below.ref}"])
        check_safetensors(path)
        return ResolvedBase(ref, [path.resolve()])
    version = _registered(registry, ref)
    if version is not None:
        folder = registry.local_path(version)
        if version.format == "lora":
            if version.base_version_id is None:
                below = resolve_base(version.base or _adapter_base(folder), _depth=_depth + 1)
            else:
                below = resolve_base(registry.get_by_id(version.base_version_id).ref,
                                     _depth=_depth + 1)
            return ResolvedBase(ref, [*below.folders, folder], version, [
                *below.notes, f"{version.ref} is a LoRA adapter: merged into {below.ref} "
                              "before training"])
        check_safetensors(folder)
        return ResolvedBase(ref, [folder], version)
    if ref.startswith(("/", ".", "~")) or ref.count("/") != 1:
        raise InvalidInput(f"base model {ref!r} is neither a folder, a registered model nor a "
                           "Hugging Face id (ORG/NAME)")
    folder = _hub_folder(ref)
    check_safetensors(folder)
    return ResolvedBase(ref, [folder])


def registered_version(ref: str) -> ModelVersion | None:
    """The registered version `ref` names, or None for a folder or hub id (no weights
    are fetched or loaded)."""
    from llmops.registry import open_registry

    if not ref.startswith("model:") and Path(ref).expanduser().is_dir():
        return None
    return _registered(open_registry(), ref)


def _registered(registry: Any, ref: str) -> ModelVersion | None:
    from llmops.errors import NotFound

    if ref.startswith("model:"):
        return registry.get(ref)  # NotFound names the choices
    if ref.count("/"):
        return None
    try:
        return registry.get(ref)
    except (NotFound, InvalidInput):
        return None


def load_model(base: ResolvedBase, *, dtype: Any = None, quantization: Any = None) -> Any:
    """Load full weights and merge each adapter on top; returns a transformers model.

    A quantized version (`llmops.registry.compress`) is rebuilt by its own loader."""
    from transformers import AutoModelForCausalLM

    quiet_libraries()
    if quantization is None:
        from llmops.registry.compress import check_trainable, load_compressed

        if len(base.folders) > 1:
            check_trainable(base)  # an adapter cannot be merged into quantized weights
        compressed = load_compressed(base.folders[0])
        if compressed is not None:
            return compressed
    model = AutoModelForCausalLM.from_pretrained(
        base.folders[0], dtype=dtype, use_safetensors=True,
        quantization_config=quantization if len(base.folders) == 1 else None)
    for adapter in base.folders[1:]:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    if len(base.folders) > 1:
        model.requires_grad_(True)  # peft froze the base for the adapter; merged, it is ours
    return model


def load_tokenizer(base: ResolvedBase) -> Any:
    """The tokenizer of the top folder, with a pad token and a chat template."""
    from transformers import AutoTokenizer

    from llmops.training.chat import DEFAULT_CHAT_TEMPLATE

    tokenizer = AutoTokenizer.from_pretrained(base.top)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template:
        tokenizer.chat_template = DEFAULT_CHAT_TEMPLATE
    return tokenizer
