"""`llmops models export REF --format vllm`: a version as a folder vLLM (or TGI) loads.

A full version is copied as it is. A LoRA version is merged into its base (the default),
or written as the base folder plus the adapter folder for vLLM's ``--enable-lora``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Literal

from llmops.errors import Conflict, InvalidInput

FORMATS = ("vllm",)


def export_version(ref: str, dest: str | Path, *, format: str = "vllm",
                   lora: Literal["merge", "separate"] = "merge") -> Path:
    """Write the version `ref` selects under `dest` (which must not exist)."""
    from llmops.training.base import load_model, load_tokenizer, resolve_base

    if format not in FORMATS:
        raise InvalidInput(f"unknown export format {format!r}: use {', '.join(FORMATS)}")
    out = Path(dest)
    if out.exists():
        raise Conflict(f"{out} exists; export into a new folder")
    base = resolve_base(ref if ref.startswith("model:") else f"model:{ref}")
    from llmops.registry.compress import quantization_method

    if quantization_method(base.folders[0]) == "int8-dynamic":
        raise InvalidInput(f"{ref} is quantized with torch's int8-dynamic, which runs in "
                           "process on CPU and which vLLM cannot load; export the version it "
                           "was quantized from (or quantize with bnb-8bit/bnb-4bit)")
    if len(base.folders) == 1:
        shutil.copytree(base.folders[0], out)
        return out
    if lora == "separate":
        if len(base.folders) > 2:
            raise InvalidInput(f"{ref} stacks {len(base.folders) - 1} adapters; vLLM takes "
                               "one per request: export it merged")
        shutil.copytree(base.folders[0], out / "base")
        shutil.copytree(base.folders[1], out / "adapter")
        return out
    model = load_model(base)  # base with every adapter merged in
    model.save_pretrained(out)
    load_tokenizer(base).save_pretrained(out)
    return out
