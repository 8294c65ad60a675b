"""GPU: llmops's default SFT recipe against a plain TRL `SFTTrainer` with default settings.

A Qwen2.5-0.5B-shaped model with random weights (from its config: no download), chat
rows of varied length, batch 8, max length 1024, the same number of steps; counts real
(non-padding) tokens per second from the trainers' own ``num_tokens`` and reports model
FLOPs utilisation against the card's peak and peak GPU memory. Needs CUDA.

    python benchmarks/train_gpu.py [--steps 40] [--peak-tflops 989]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def model_folder(folder: Path) -> None:
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from llmops.training.tinytravel.build import train_tokenizer
    from llmops.training.tinytravel.corpus import corpus_lines

    tokenizer = train_tokenizer(corpus_lines()[:2000], 4096)
    config = Qwen2Config(vocab_size=151936, hidden_size=896, intermediate_size=4864,
                         num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                         max_position_embeddings=4096, tie_word_embeddings=True,
                         eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    Qwen2ForCausalLM(config).to(torch.bfloat16).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def rows(n: int) -> list[dict[str, object]]:
    from llmops.training.tinytravel.corpus import corpus_lines

    lines, rng = corpus_lines(), random.Random(0)
    return [{"messages": [
        {"role": "user", "content": " ".join(rng.sample(lines, rng.randint(1, 4)))},
        {"role": "assistant", "content": " ".join(rng.sample(lines, rng.randint(2, 30)))}]}
        for _ in range(n)]


def params(folder: Path) -> int:
    from transformers import AutoConfig, AutoModelForCausalLM

    with __import__("torch").device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(folder))
    return sum(p.numel() for p in model.parameters())


def plain_trl(folder: Path, data: list[dict[str, object]], steps: int) -> tuple[float, float]:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    torch.cuda.reset_peak_memory_stats()
    trainer = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16),
        args=SFTConfig(output_dir=tempfile.mkdtemp(), max_steps=steps,
                       per_device_train_batch_size=8, max_length=1024, report_to=[],
                       save_strategy="no", logging_steps=1),
        train_dataset=Dataset.from_list(data),
        processing_class=AutoTokenizer.from_pretrained(folder))
    start = time.perf_counter()
    trainer.train()
    elapsed = time.perf_counter() - start
    tokens = max(h.get("num_tokens", 0) for h in trainer.state.log_history)
    return tokens / elapsed, torch.cuda.max_memory_allocated() / 2**30


def with_llmops(folder: Path, steps: int) -> tuple[float, float]:
    import torch

    from llmops.tracking import open_tracking
    from llmops.training import train

    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    result = train(recipe="sft", base=str(folder), data="bench-chat@1", max_steps=steps,
                   batch_size=8, max_length=1024, checkpoint_every=10_000)
    elapsed = time.perf_counter() - start
    tokens = open_tracking().get_run(result.run_id).metrics["tokens"].value
    return tokens / elapsed, torch.cuda.max_memory_allocated() / 2**30


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="H100 SXM bf16 dense")
    a = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("train_gpu.py needs a CUDA GPU")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["LLMOPS_HOME"] = str(Path(tmp) / "home")
        from llmops import datasets

        data = rows(8 * a.steps * 3)
        datasets.import_dataset("bench-chat", data, kind="chat")
        folder = Path(tmp) / "qwen-shaped"
        model_folder(folder)
        n = params(folder)
        print(f"card: {torch.cuda.get_device_name()}; model parameters: {n / 1e6:.0f}M")
        print("| setup | real tokens/s | MFU | peak memory |\n|---|---|---|---|")
        for label, (tps, mem) in (("TRL SFTTrainer defaults", plain_trl(folder, data, a.steps)),
                                  ("llmops train sft (default)", with_llmops(folder, a.steps))):
            mfu = 6 * n * tps / (a.peak_tflops * 1e12)
            print(f"| {label} | {tps:,.0f} | {mfu:.1%} | {mem:.1f} GiB |")


if __name__ == "__main__":
    main()
