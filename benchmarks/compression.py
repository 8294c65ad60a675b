"""int8-dynamic quantization of the built-in base model: size, quality, generation speed.

    python benchmarks/compression.py [--home DIR] [--rows 64] [--max-new-tokens 32]
                                     [--wide 1024]

In a fresh home (or DIR, reused when it already holds the base): builds `tiny-travel`
(the built-in base, pre-trained on its corpus), imports the first ROWS rows of
examples/data/travel-qa.jsonl as an eval set, then runs `quantize_version(...,
"int8-dynamic", eval_data=..., metrics=[rougeL, chrf])` and times greedy generation of
the same prompts with the float and the int8 model (best of 3, one thread each, batch 16);
then the same timing on a random 4-layer Llama of width WIDE, where the matrix products
rather than the per-call overhead dominate. Every figure is measured; ratios are
int8 / float.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _time_generation(ref: str, prompts: list[list[dict[str, str]]], tokens: int) -> float:
    from llmops.evaluation.generate import LocalGenerator

    generator = LocalGenerator(ref)
    generator.generate(prompts[:2], max_new_tokens=tokens)  # warm up
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        generator.generate(prompts, max_new_tokens=tokens, batch_size=16)
        best = min(best, time.perf_counter() - began)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--wide", type=int, default=1024, help="also time a random model of "
                        "this width (0: skip)")
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="llmops-bench-compress-"))
    os.environ["LLMOPS_HOME"] = str(home)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(1)
    from llmops import datasets, registry
    from llmops.errors import NotFound
    from llmops.registry.compress import quantize_version
    from llmops.training.tinytravel.build import build_base

    try:
        base = registry.get("model:tiny-travel@1")
    except NotFound:
        began = time.perf_counter()
        result = build_base("tiny-travel")
        assert result.model is not None
        base = result.model
        print(f"built {base.ref} in {time.perf_counter() - began:.0f} s")
    rows = [json.loads(line) for line in
            (ROOT / "examples/data/travel-qa.jsonl").read_text().splitlines()[:args.rows]]
    data = datasets.import_dataset("bench-qa", rows, kind="chat").version.ref
    began = time.perf_counter()
    q = quantize_version(base.ref, "int8-dynamic", name="tiny-travel-int8", eval_data=data,
                         metrics=["rougeL", "chrf"], max_new_tokens=args.max_new_tokens)
    seconds = time.perf_counter() - began
    prompts = [r["messages"][:-1] for r in rows]
    float_s = _time_generation(base.ref, prompts, args.max_new_tokens)
    int8_s = _time_generation(q.version.ref, prompts, args.max_new_tokens)
    print(f"\n{platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"1 thread, load {os.getloadavg()[0]:.1f}; {len(prompts)} prompts, "
          f"{args.max_new_tokens} new tokens, greedy")
    print(f"quantize_version (both evaluations included): {seconds:.1f} s")
    print(f"{'':<24}{'float32':>12}{'int8-dynamic':>14}{'ratio':>8}")
    print(f"{'size on disk (KiB)':<24}{q.size_before / 1024:>12.0f}"
          f"{q.size_after / 1024:>14.0f}{q.size_after / q.size_before:>8.2f}")
    print(f"{'generation (s)':<24}{float_s:>12.2f}{int8_s:>14.2f}{int8_s / float_s:>8.2f}")
    for m in q.delta:
        print(f"{m:<24}{q.before[m]:>12.4f}{q.after[m]:>14.4f}{q.delta[m]:>+8.4f}")
    if args.wide:
        _wide(base.ref, args.wide, prompts[:16], args.max_new_tokens)
    print(f"\nhome: {home}")


def _wide(base_ref: str, hidden: int, prompts: list[list[dict[str, str]]], tokens: int
          ) -> None:
    """Generation speed where the matrices, not the per-call overhead, dominate: a random
    4-layer Llama of width `hidden` with the base's tokenizer (quality is meaningless)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from llmops import registry
    from llmops.registry.compress import quantize_version

    folder = Path(tempfile.mkdtemp(prefix="wide-"))
    tokenizer = AutoTokenizer.from_pretrained(registry.local_path(base_ref))
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=hidden * 11 // 4,
        num_hidden_layers=4, num_attention_heads=hidden // 64, num_key_value_heads=hidden // 64,
        tie_word_embeddings=True, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    version = registry.register(f"wide-{hidden}", folder)
    shutil.rmtree(folder)  # the registry holds it now
    q = quantize_version(version.ref, "int8-dynamic")
    float_s = _time_generation(version.ref, prompts, tokens)
    int8_s = _time_generation(q.version.ref, prompts, tokens)
    print(f"\nrandom 4-layer Llama, hidden {hidden}, {len(prompts)} prompts:")
    print(f"{'size on disk (KiB)':<24}{q.size_before / 1024:>12.0f}"
          f"{q.size_after / 1024:>14.0f}{q.size_after / q.size_before:>8.2f}")
    print(f"{'generation (s)':<24}{float_s:>12.2f}{int8_s:>14.2f}{int8_s / float_s:>8.2f}")


if __name__ == "__main__":
    main()
