"""What llmops adds to a fine-tune on CPU: `llmops.train` against a plain TRL script.

The same tiny Llama (built in-process), the same 680 chat rows of travel Q&A, the same
LoRA and trainer settings and seed. llmops's side includes everything it does around the
trainer: resolving the dataset version, the run with live per-step metrics, checkpoints
into the artifact store, the output folder artifact and the model registration. The two
alternate, three rounds each; the ratio of the medians is reported.

    python benchmarks/train_overhead.py [--steps 60] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "data" / "travel-qa.jsonl"
SETTINGS = {"lr": 1e-3, "batch_size": 8, "max_length": 256, "lora_r": 16, "lora_alpha": 32,
            "lora_dropout": 0.05, "seed": 0}


def build_model(folder: Path) -> None:
    from llmops.training.tinytravel.build import BaseSpec, init_model, train_tokenizer
    from llmops.training.tinytravel.corpus import corpus_lines

    spec = BaseSpec(vocab_size=1024, hidden_size=64, layers=2, heads=4, kv_heads=2,
                    intermediate_size=128, context=256)
    init_model(train_tokenizer(corpus_lines()[:1000], spec.vocab_size), spec, folder)


def plain_trl(model_dir: Path, steps: int, out: Path) -> float:
    """What a user writes without llmops: load, format, SFTTrainer, train, save."""
    start = time.perf_counter()
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback
    from trl import SFTConfig, SFTTrainer

    rows = [json.loads(line) for line in DATA.read_text().splitlines()]
    data = Dataset.from_list([{"prompt": r["messages"][:-1], "completion": r["messages"][-1:]}
                              for r in rows])
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    s = SETTINGS
    args = SFTConfig(output_dir=str(out), max_steps=steps, learning_rate=s["lr"],
                     per_device_train_batch_size=s["batch_size"], max_length=s["max_length"],
                     seed=s["seed"], data_seed=s["seed"], logging_steps=1, save_steps=50,
                     report_to=[], disable_tqdm=True, bf16=False, use_cpu=True,
                     activation_checkpointing=False, packing=False)
    trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer,
                         peft_config=LoraConfig(r=s["lora_r"], lora_alpha=s["lora_alpha"],
                                                lora_dropout=s["lora_dropout"],
                                                target_modules="all-linear",
                                                task_type="CAUSAL_LM"))
    trainer.remove_callback(PrinterCallback)
    trainer.train()
    trainer.save_model(str(out / "model"))
    return time.perf_counter() - start


def with_llmops(model_dir: Path, steps: int, n: int) -> float:
    from llmops.training import train

    start = time.perf_counter()
    s = SETTINGS
    train(recipe="sft", base=str(model_dir), data="travel-qa@1", eval_data=None, lora=True,
          max_steps=steps, lr=s["lr"], batch_size=s["batch_size"], max_length=s["max_length"],
          lora_r=s["lora_r"], lora_alpha=s["lora_alpha"], lora_dropout=s["lora_dropout"],
          seed=s["seed"], checkpoint_every=50, register="bench", name=f"bench-{n}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    a = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["LLMOPS_HOME"] = str(Path(tmp) / "home")
        from llmops import datasets

        # the whole file as one split, so both sides train on the same 680 rows
        datasets.import_dataset("travel-qa", DATA, kind="chat")
        model_dir = Path(tmp) / "model"
        build_model(model_dir)
        plain_trl(model_dir, 2, Path(tmp) / "warm")  # imports and first-call costs, once
        trl_s, ours = [], []
        for n in range(a.rounds):
            trl_s.append(plain_trl(model_dir, a.steps, Path(tmp) / f"trl-{n}"))
            ours.append(with_llmops(model_dir, a.steps, n))
            print(f"round {n + 1}: TRL {trl_s[-1]:.2f} s, llmops {ours[-1]:.2f} s",
                  file=sys.stderr)
    t, o = statistics.median(trl_s), statistics.median(ours)
    print(f"| {a.steps} LoRA steps, batch 8, 680 chat rows | {t:.2f} s | {o:.2f} s | "
          f"{o / t:.3f}x |")


if __name__ == "__main__":
    main()
