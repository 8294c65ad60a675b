"""Local generation with a registered or local model: batched, greedy, chat-formatted."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

Messages = list[dict[str, str]]


class LocalGenerator:
    """Answers chat prompts with a model loaded in this process (CPU or GPU)."""

    def __init__(self, ref: str) -> None:
        import torch

        from llmops.training.base import load_model, load_tokenizer, resolve_base

        base = resolve_base(ref)
        self.tokenizer = load_tokenizer(base)
        self.tokenizer.padding_side = "left"  # generation continues at the right edge
        model = load_model(base)
        # a quantized version is placed where its kernels run (int8-dynamic: CPU only)
        placed = getattr(model, "llmops_device", None)
        self.device = placed or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = (model if placed else model.to(self.device)).eval()
        self.version = base.version

    @classmethod
    def from_loaded(cls, model: Any, tokenizer: Any) -> LocalGenerator:
        """A generator over a model already in memory (one being trained, for instance);
        the caller sets eval mode and left padding for the duration."""
        generator = cls.__new__(cls)
        generator.model, generator.tokenizer = model, tokenizer
        generator.device = next(model.parameters()).device
        generator.version = None
        return generator

    def generate(self, prompts: Sequence[Messages], *, max_new_tokens: int = 64,
                 batch_size: int = 16, progress: Callable[[int], None] | None = None
                 ) -> list[str]:
        import torch

        tok = self.tokenizer
        out: list[str] = []
        for start in range(0, len(prompts), batch_size):
            texts = [tok.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
                     for p in prompts[start:start + batch_size]]
            enc: Any = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
            enc = enc.to(self.device)
            with torch.no_grad():
                tokens = self.model.generate(**enc, max_new_tokens=max_new_tokens,
                                             do_sample=False, pad_token_id=tok.pad_token_id,
                                             eos_token_id=tok.eos_token_id)
            new = tokens[:, enc["input_ids"].shape[1]:]
            out += [t.strip() for t in tok.batch_decode(new, skip_special_tokens=True)]
            if progress is not None:
                progress(len(texts))
        return out

    def negative_log_likelihood(self, prompts: Sequence[Messages], references: Sequence[str]
                                ) -> tuple[list[float], list[int]]:
        """For each (prompt, reference): the summed negative log-likelihood of the
        reference's tokens after the chat-formatted prompt, and their count."""
        import torch

        tok = self.tokenizer
        nll: list[float] = []
        counts: list[int] = []
        for prompt, reference in zip(prompts, references, strict=True):
            context = tok.apply_chat_template(prompt, tokenize=False,
                                              add_generation_prompt=True)
            head = tok(context, add_special_tokens=False)["input_ids"]
            tail = tok(reference + (tok.eos_token or ""), add_special_tokens=False)["input_ids"]
            ids = torch.tensor([head + tail], device=self.device)
            with torch.no_grad():
                logits = self.model(ids).logits[0, len(head) - 1:-1].float()
            target = ids[0, len(head):]
            loss = torch.nn.functional.cross_entropy(logits, target, reduction="sum")
            nll.append(float(loss))
            counts.append(len(tail))
        return nll, counts
