"""GPU: the local engine's continuous batching against transformers' `generate`, and eight
LoRA versions mixed in one batch against one version.

A Qwen2.5-0.5B-shaped model with random weights (from its config: no download), bf16 on
the GPU, prompts of 32 to 96 tokens, a fixed number of new tokens per request (end of
sequence is ignored, so every request runs to length). Generated tokens per second for:

- one request at a time: transformers `generate`, and one stream through the scheduler;
- N requests: one static batch through `generate`, and N concurrent streaming requests
  through the scheduler (`BatchScheduler.astream`, each consumed by its own asyncio task,
  detokenised and delivered step by step as the gateway does);
- N concurrent streaming requests through eight LoRA adapters (r=16 on every linear layer)
  mixed in the batch, against the same requests all on one adapter.

Writes JSON (--out) and prints a Markdown table. `--tiny` runs a 2-layer model on the CPU
to check that the script works: its numbers are CPU numbers, not the GPU's.

    python benchmarks/gateway_gpu.py [--new-tokens 128] [--requests 64] [--out gateway_gpu.json]
    python benchmarks/gateway_gpu.py --tiny
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ADAPTERS = 8


def build(tiny: bool, device: str) -> tuple[Any, Any]:
    """A random-weight model shaped like Qwen2.5-0.5B (or a tiny one) and a tokenizer."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from llmops.training.base import quiet_libraries
    from llmops.training.tinytravel.build import train_tokenizer
    from llmops.training.tinytravel.corpus import corpus_lines

    quiet_libraries()
    tokenizer = train_tokenizer(corpus_lines()[:300 if tiny else 2000], 400 if tiny else 4096)
    if tiny:
        config = Qwen2Config(vocab_size=400, hidden_size=64, intermediate_size=128,
                             num_hidden_layers=2, num_attention_heads=4,
                             num_key_value_heads=2, max_position_embeddings=1024)
    else:  # Qwen/Qwen2.5-0.5B's config.json
        config = Qwen2Config(vocab_size=151936, hidden_size=896, intermediate_size=4864,
                             num_hidden_layers=24, num_attention_heads=14,
                             num_key_value_heads=2, max_position_embeddings=32768,
                             rope_theta=1000000.0, tie_word_embeddings=True)
    config.eos_token_id = None  # run every request to its length
    torch.manual_seed(0)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    with torch.device(device):
        model = Qwen2ForCausalLM(config).to(dtype).eval()
    model.generation_config.eos_token_id = None
    return model, tokenizer


def prompts(n: int, vocab: int) -> list[list[int]]:
    rng = random.Random(0)
    return [[rng.randrange(3, vocab) for _ in range(rng.randint(32, 96))] for _ in range(n)]


def sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def static_generate(model: Any, batch: list[list[int]], new: int, device: str) -> float:
    """Tokens/s of one left-padded batch through transformers' `generate`."""
    import torch

    width = max(len(p) for p in batch)
    ids = torch.zeros((len(batch), width), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, p in enumerate(batch):
        ids[i, width - len(p):] = torch.tensor(p)
        mask[i, width - len(p):] = 1
    sync()
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                             max_new_tokens=new, min_new_tokens=new, do_sample=False,
                             pad_token_id=0, eos_token_id=None)
    sync()
    assert out.shape[1] == width + new
    return len(batch) * new / (time.perf_counter() - start)


async def streams(scheduler: Any, batch: list[list[int]], new: int, tokenizer: Any,
                  adapters: list[str | None]) -> tuple[float, float]:
    """(tokens/s, median time to first token in ms) of concurrent streaming requests."""
    from llmops.gateway.batching import Sampling

    first: list[float] = []
    start = time.perf_counter()

    async def one(prompt: list[int], adapter: str | None) -> int:
        count = 0
        async for event in scheduler.astream(prompt, Sampling(max_tokens=new),
                                             tokenizer=tokenizer, eos=frozenset(),
                                             adapter=adapter):
            if count == 0:
                first.append(time.perf_counter() - start)
            count = event.completion_tokens
        return count

    counts = await asyncio.gather(*(one(p, adapters[i % len(adapters)])
                                    for i, p in enumerate(batch)))
    elapsed = time.perf_counter() - start
    assert counts == [new] * len(batch), counts
    return sum(counts) / elapsed, statistics.median(first) * 1000


def make_adapters(model: Any, folder: Path) -> list[Path]:
    """Eight random LoRA adapters (r=16, every linear layer) for `model`'s shape."""
    import copy

    import torch
    from peft import LoraConfig, get_peft_model

    shell = copy.deepcopy(model).to("cpu")
    paths = []
    for i in range(ADAPTERS):
        torch.manual_seed(100 + i)
        peft = get_peft_model(shell, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear",
                                                init_lora_weights=False))
        paths.append(folder / f"lora{i}")
        peft.save_pretrained(paths[-1])
        shell = peft.unload()
    return paths


def run(a: argparse.Namespace) -> dict[str, Any]:
    import peft
    import torch
    import transformers

    from llmops.cli.progress import step_progress
    from llmops.gateway.batching import BatchScheduler

    device = "cuda" if torch.cuda.is_available() and not a.tiny else "cpu"
    model, tokenizer = build(a.tiny, device)
    batch = prompts(a.requests, len(tokenizer))
    new = a.new_tokens
    result: dict[str, Any] = {
        "card": torch.cuda.get_device_name() if device == "cuda" else
        f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)",
        "model": "tiny Qwen2 (2 layers, width 64)" if a.tiny else
        "Qwen2.5-0.5B-shaped, random weights, bf16",
        "parameters": sum(p.numel() for p in model.parameters()),
        "new_tokens": new, "requests": a.requests, "repeat": a.repeat,
        "lora_path": "peft mixed batch" if a.peft_mixed else "stacked", "lora_adapters": ADAPTERS,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "peft": peft.__version__},
        "tokens_per_s": {}}
    tps = result["tokens_per_s"]
    scheduler = BatchScheduler(model, device=device, max_batch=a.requests, name="bench",
                               stack_lora=not a.peft_mixed)
    phases = 7
    with step_progress("gateway GPU benchmark") as update, \
            tempfile.TemporaryDirectory() as tmp:
        def median(measure: Any) -> Any:
            """The median of `--repeat` runs (by the first figure)."""
            runs = sorted((measure() for _ in range(a.repeat)), key=lambda r: r[0])
            return runs[len(runs) // 2]

        def stream_run(prompts: list[list[int]], adapters: list[str | None]) -> Any:
            return median(lambda: asyncio.run(streams(scheduler, prompts, new, tokenizer,
                                                      adapters)))

        update(0, phases)
        static_generate(model, batch[:2], 4, device)  # warm up kernels and allocator
        asyncio.run(streams(scheduler, batch[:2], 4, tokenizer, [None]))
        tps["generate_one_at_a_time"] = median(
            lambda: (static_generate(model, batch[:1], new, device),))[0]
        update(1, phases)
        tps["scheduler_one_stream"] = stream_run(batch[:1], [None])[0]
        update(2, phases)
        tps["generate_static_batch"] = median(
            lambda: (static_generate(model, batch, new, device),))[0]
        update(3, phases)
        tps["scheduler_concurrent_streams"], result["ttft_ms_p50"] = stream_run(batch, [None])
        update(4, phases)
        names = []
        for i, path in enumerate(make_adapters(model, Path(tmp))):
            names.append(f"lora{i}")
            scheduler.add_adapter(names[-1], path)
        update(5, phases)
        asyncio.run(streams(scheduler, batch[:2], 4, tokenizer, names[:2]))
        tps["scheduler_one_lora"] = stream_run(batch, names[:1])[0]
        update(6, phases)
        tps["scheduler_8_loras_mixed"] = stream_run(batch, list(names))[0]
        update(7, phases)
    scheduler.close()
    if device == "cuda":
        result["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    result["ratios"] = {
        "one_stream_vs_generate_one_at_a_time":
            tps["scheduler_one_stream"] / tps["generate_one_at_a_time"],
        "concurrent_streams_vs_static_batch":
            tps["scheduler_concurrent_streams"] / tps["generate_static_batch"],
        "8_loras_mixed_vs_one_lora":
            tps["scheduler_8_loras_mixed"] / tps["scheduler_one_lora"]}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true",
                        help="a 2-layer model on the CPU: checks the script, not the GPU")
    parser.add_argument("--new-tokens", type=int, default=None, help="128 (--tiny: 32)")
    parser.add_argument("--requests", type=int, default=None, help="64 (--tiny: 16)")
    parser.add_argument("--peft-mixed", action="store_true",
                        help="LoRA through PEFT's mixed batch forward, not stacked")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--out", type=Path, default=Path("gateway_gpu.json"))
    a = parser.parse_args()
    a.new_tokens = a.new_tokens or (32 if a.tiny else 128)
    a.requests = a.requests or (16 if a.tiny else 64)
    import torch

    if not a.tiny and not torch.cuda.is_available():
        raise SystemExit("gateway_gpu.py needs a CUDA GPU (--tiny runs a small model on the CPU)")
    result = run(a)
    a.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"card: {result['card']}; model: {result['model']}, "
          f"{result['parameters'] / 1e6:.1f}M parameters; {result['new_tokens']} new tokens")
    print("| setup | generated tokens/s |\n|---|---|")
    for name, value in result["tokens_per_s"].items():
        print(f"| {name} | {value:,.0f} |")
    for name, value in result["ratios"].items():
        print(f"{name}: {value:.2f}x")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
