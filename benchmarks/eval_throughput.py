"""Evaluation throughput, in one run.

1. Scoring 10,000 pairs: `llmops.evaluation.score` (BLEU, chrF, ROUGE-1/2/L) against
   calling sacrebleu and rouge-score directly with the same settings; the scores must be
   identical. llmops also returns every example's score, which the direct calls do not.
2. Generation over 1,000 prompts with a small model on CPU: `llmops.evaluate` (batched)
   against a loop that calls `generate` once per prompt; then the same evaluation again,
   served from the generation cache.

    python benchmarks/eval_throughput.py [--pairs 10000] [--prompts 1000]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def pairs(n: int) -> tuple[list[str], list[str]]:
    from llmops.training.tinytravel.corpus import corpus_lines

    lines, rng = corpus_lines(), random.Random(0)
    refs = [rng.choice(lines) for _ in range(n)]
    preds = [" ".join(w for w in r.split() if rng.random() > 0.3) or r for r in refs]
    return preds, refs


def scoring(n: int) -> None:
    import sacrebleu
    from rouge_score import rouge_scorer

    from llmops.evaluation import score

    preds, refs = pairs(n)
    kinds = ["rouge1", "rouge2", "rougeL"]
    start = time.perf_counter()
    bleu = sacrebleu.corpus_bleu(preds, [refs]).score
    t_bleu = time.perf_counter() - start
    start = time.perf_counter()
    chrf = sacrebleu.corpus_chrf(preds, [refs]).score
    t_chrf = time.perf_counter() - start
    start = time.perf_counter()
    scorer = rouge_scorer.RougeScorer(kinds, use_stemmer=True)
    scored = [scorer.score(r, p) for p, r in zip(preds, refs, strict=True)]
    rouge = {k: sum(s[k].fmeasure for s in scored) / n for k in kinds}
    t_rouge = time.perf_counter() - start
    start = time.perf_counter()
    ours = score(["bleu", "chrf", *kinds], preds, refs)
    t_ours = time.perf_counter() - start
    assert ours["bleu"][0] == bleu and ours["chrf"][0] == chrf
    assert all(abs(ours[k][0] - rouge[k]) < 1e-12 for k in kinds)
    direct = t_bleu + t_chrf + t_rouge
    print(f"| scoring {n:,} pairs: BLEU + chrF + ROUGE-1/2/L | direct {direct:.2f} s "
          f"(BLEU {t_bleu:.2f}, chrF {t_chrf:.2f}, ROUGE {t_rouge:.2f}) | llmops "
          f"{t_ours:.2f} s | {t_ours / direct:.2f}x | identical |")


def generation(n: int, max_new_tokens: int) -> None:
    import torch

    from llmops import datasets, registry
    from llmops.evaluation import evaluate
    from llmops.training.base import load_model, load_tokenizer, resolve_base
    from llmops.training.tinytravel.build import BaseSpec, init_model, train_tokenizer
    from llmops.training.tinytravel.corpus import corpus_lines

    lines = corpus_lines()
    rng = random.Random(1)
    rows = [{"messages": [{"role": "user", "content": rng.choice(lines)},
                          {"role": "assistant", "content": rng.choice(lines)}]}
            for _ in range(n)]
    datasets.import_dataset("bench-prompts", rows, kind="chat")
    folder = Path(tempfile.mkdtemp()) / "model"
    spec = BaseSpec(vocab_size=1024, hidden_size=64, layers=2, heads=4, kv_heads=2,
                    intermediate_size=128, context=512)
    init_model(train_tokenizer(lines[:1000], spec.vocab_size), spec, folder)
    registry.register("bench-model", folder)

    base = resolve_base("model:bench-model@1")
    tok, model = load_tokenizer(base), load_model(base).eval()
    start = time.perf_counter()
    for row in rows:  # what a script without batching does
        ids = tok.apply_chat_template(row["messages"][:1], add_generation_prompt=True,
                                      return_tensors="pt", return_dict=True)
        with torch.no_grad():
            model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False,
                           pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    t_loop = time.perf_counter() - start
    start = time.perf_counter()
    first = evaluate("model:bench-model@1", "bench-prompts@1", metrics=["rougeL"],
                     max_new_tokens=max_new_tokens, batch_size=64)
    t_first = time.perf_counter() - start
    start = time.perf_counter()
    again = evaluate("model:bench-model@1", "bench-prompts@1", metrics=["rougeL"],
                     max_new_tokens=max_new_tokens, batch_size=64)
    t_again = time.perf_counter() - start
    assert again.cached == n, (first.cached, again.cached)
    print(f"| {n:,} prompts, {max_new_tokens} new tokens: generate per prompt | "
          f"{t_loop:.1f} s | llmops evaluate (batch 64) {t_first:.1f} s | "
          f"{t_loop / t_first:.1f}x faster |")
    print(f"| the same evaluation again (cache) | {t_first:.1f} s | {t_again:.2f} s | "
          f"{t_first / t_again:.0f}x faster |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--prompts", type=int, default=1_000)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    a = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["LLMOPS_HOME"] = tmp
        scoring(a.pairs)
        generation(a.prompts, a.max_new_tokens)


if __name__ == "__main__":
    main()
