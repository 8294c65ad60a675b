"""Per-route guardrails: PII redaction of inputs and outputs (the dataset detectors), and
prompt-injection heuristics scored on every request, logged, and blocking when asked.

The heuristics are patterns seen in real injection attempts (instructions to ignore the
system prompt, to reveal it, role-play jailbreaks, fake system turns); each carries a
weight and the score is their sum, capped at 1. They catch the common, lazy attacks and
cost microseconds; they are a tripwire, not a classifier.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from llmops.errors import InvalidInput

# (name, weight, pattern, words one of which a lower-cased ASCII text must contain for the
# pattern to possibly match: a substring test skips the regex on the common, clean text.
# Non-ASCII text always runs every regex: re.I folds some letters that lower() keeps.)
_PATTERNS: list[tuple[str, float, re.Pattern[str], tuple[str, ...]]] = [
    (name, weight, re.compile(pattern, re.I), words) for name, weight, pattern, words in [
        ("ignore-instructions", 0.6, r"\b(ignore|disregard|forget)\b.{0,40}\b(previous|prior|"
                                     r"above|earlier|all)\b.{0,20}\b(instructions?|prompts?|"
                                     r"rules?)", ("ignore", "disregard", "forget")),
        ("reveal-system-prompt", 0.6, r"\b(reveal|show|print|repeat|leak)\b.{0,40}\b(system|"
                                      r"hidden|initial)\s+(prompt|instructions?|message)",
         ("reveal", "show", "print", "repeat", "leak")),
        ("new-persona", 0.4, r"\byou are now\b|\bact as (an? )?(unfiltered|unrestricted|"
                             r"jailbroken)|\bDAN\b|developer mode",
         ("you are now", "act as", "dan", "developer mode")),
        ("fake-system-turn", 0.5, r"(^|\n)\s*(system|assistant)\s*:|<\|?(system|im_start)\|?>",
         ("system", "assistant", "im_start")),
        ("override", 0.3, r"\b(new|updated|override)\b.{0,20}\b(instructions?|rules?|policy)",
         ("new", "updated", "override")),
    ]
]


class GuardrailBlocked(InvalidInput):
    """A request the route's guardrails refused (400, with the reason)."""


@dataclass
class GuardReport:
    injection_score: float = 0.0
    injection_matches: list[str] = field(default_factory=list)
    redacted_input: dict[str, int] = field(default_factory=dict)
    redacted_output: dict[str, int] = field(default_factory=dict)
    blocked: bool = False

    def as_dict(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if v}


def injection_score(text: str) -> tuple[float, list[str]]:
    low = text.lower() if text.isascii() else None
    matched = [(name, weight) for name, weight, rx, words in _PATTERNS
               if (low is None or any(w in low for w in words)) and rx.search(text)]
    return min(1.0, sum(w for _, w in matched)), [n for n, _ in matched]


def _redact_text(text: str) -> tuple[str, tuple[tuple[str, int], ...]]:
    """The redacted text and its (type, count) pairs."""
    from llmops.datasets.pii import Redactor, summarize

    redacted, report = Redactor().redact_text(text)
    return redacted, tuple(summarize(report).items()) if report else ()


# System prompts repeat on every request of an application: their redaction is kept (by
# exact text, a few hundred of them) instead of scanned again. Other turns are scanned.
_redact_system = functools.lru_cache(maxsize=512)(_redact_text)


def _redact(text: str, counts: dict[str, int], *, system: bool = False) -> str:
    redacted, found = (_redact_system if system and len(text) <= 16_384 else _redact_text)(
        text)
    for kind, n in found:
        counts[kind] = counts.get(kind, 0) + n
    return redacted


def guard_input(messages: list[dict[str, str]], *, redact: bool, injection: str,
                threshold: float = 0.5) -> tuple[list[dict[str, str]], GuardReport]:
    """Score the user's turns for injection (blocking when `injection` is ``block``) and
    redact PII from every turn when `redact`."""
    report = GuardReport()
    if injection != "off":
        user = "\n".join(m["content"] for m in messages if m["role"] != "system")
        report.injection_score, report.injection_matches = injection_score(user)
        if injection == "block" and report.injection_score >= threshold:
            report.blocked = True
            raise GuardrailBlocked(
                f"request blocked by the route's guardrails: likely prompt injection (score "
                f"{report.injection_score:.2f}: {', '.join(report.injection_matches)})")
    if redact:
        messages = [{**m, "content": _redact(m["content"], report.redacted_input,
                                             system=m["role"] == "system")}
                    for m in messages]
    return messages, report


def guard_output(text: str, report: GuardReport) -> str:
    return _redact(text, report.redacted_output)
