"""`llmops models build-base tiny-travel`: the built-in base model, made on this machine.

No weights can be downloaded on an offline machine, so llmops pre-trains its own small
starting point: the travel corpus is imported as a text dataset, a byte-level BPE
tokenizer is trained on it (the tokenizers library), a small Llama-architecture model is
initialised from a seed and pre-trained through the same training loop as every
fine-tune (full SFT on text = causal language modelling), and the result is registered.
It takes about a minute on 2 CPU cores; its lineage is the corpus dataset and the run.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmops.errors import Conflict, InvalidInput, NotFound
from llmops.training.chat import DEFAULT_CHAT_TEMPLATE, SPECIAL_TOKENS
from llmops.training.loop import Progress, TrainResult, train
from llmops.training.tinytravel.corpus import corpus_lines


@dataclass(frozen=True)
class BaseSpec:
    """The shape and pre-training budget of a built-in base model."""

    vocab_size: int = 2048
    hidden_size: int = 192
    layers: int = 4
    heads: int = 6
    kv_heads: int = 2
    intermediate_size: int = 512
    context: int = 256
    epochs: float = 3.0
    lr: float = 3e-3
    batch_size: int = 32
    seed: int = 0


BASES = {"tiny-travel": BaseSpec()}
CORPUS_DATASET = "tiny-travel-corpus"


def train_tokenizer(lines: list[str], vocab_size: int) -> Any:
    """A byte-level BPE tokenizer with the chat role markers as special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(lines, trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|end|>",
                                   pad_token="<|pad|>")
    fast.chat_template = DEFAULT_CHAT_TEMPLATE
    return fast


def init_model(tokenizer: Any, spec: BaseSpec, folder: Path) -> None:
    """Save a freshly initialised (seeded) Llama model and its tokenizer to `folder`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from llmops.training.base import quiet_libraries

    quiet_libraries()
    torch.manual_seed(spec.seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size, num_hidden_layers=spec.layers,
        num_attention_heads=spec.heads, num_key_value_heads=spec.kv_heads,
        max_position_embeddings=spec.context, tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def build_base(name: str = "tiny-travel", *, register_as: str | None = None,
               rebuild: bool = False, progress: Progress | None = None,
               epochs: float | None = None) -> TrainResult:
    """Pre-train the built-in base model `name` and register it (``model:NAME@1``).

    Raises:
        InvalidInput: an unknown built-in name.
        Conflict: the model is registered already (pass ``rebuild=True`` for a new version).
    """
    from llmops import datasets, registry

    spec = BASES.get(name)
    if spec is None:
        raise InvalidInput(f"unknown built-in base model {name!r}: use one of "
                           f"{', '.join(BASES)}")
    target = register_as or name
    try:
        existing = registry.get(target)
    except NotFound:
        existing = None
    if existing is not None and not rebuild:
        raise Conflict(f"{existing.ref} is registered already; use it as --base "
                       f"model:{target}@{existing.version}, or rebuild for a new version")
    lines = corpus_lines(spec.seed)
    report = datasets.import_dataset(
        CORPUS_DATASET, [{"text": line} for line in lines], kind="text",
        split={"train": 0.95, "val": 0.05}, seed=spec.seed,
        description="Pre-training corpus of the built-in tiny-travel model")
    folder = Path(tempfile.mkdtemp(prefix="tiny-travel-init-"))
    try:
        init_model(train_tokenizer(lines, spec.vocab_size), spec, folder)
        return train(recipe="sft", base=str(folder), base_label=f"init:{name} (seed {spec.seed})",
                     data=f"{report.version.ref}#train",
                     epochs=epochs or spec.epochs, lr=spec.lr, batch_size=spec.batch_size,
                     max_length=spec.context, warmup_ratio=0.05, scheduler="cosine",
                     seed=spec.seed, completion_only=False, checkpoint_every=100_000,
                     log_every=10, register=target, experiment="base-models",
                     name=f"pretrain-{name}", progress=progress)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
