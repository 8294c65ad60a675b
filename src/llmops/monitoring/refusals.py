"""A refusal detector: does an answer decline the request?

Phrases models use when they decline ("I can't help with that", "As an AI language
model", "I'm sorry, but I cannot"), matched case-insensitively near the start of the
answer, where a refusal lives; an answer that quotes such a phrase deep in a long text
is not counted.
"""

from __future__ import annotations

import re

_REFUSAL = re.compile(
    r"\b(?:"
    r"i(?:'m| am)? ?(?:sorry|afraid),? (?:but )?i (?:can(?:'|no)t|cannot|won't|will not|am "
    r"(?:not able|unable))"
    r"|i (?:can(?:'|no)t|cannot|won't|will not) (?:help|assist|provide|comply|do that|"
    r"answer|fulfil+|support|share|generate|create|give)"
    r"|i(?:'m| am) (?:not able|unable) to (?:help|assist|provide|comply|answer|do)"
    r"|as an ai(?: language model| assistant)?,? i"
    r"|i must (?:decline|refuse)"
    r"|(?:that|this) (?:request )?(?:is|would be) (?:against|not allowed by|outside) my"
    r"|i(?:'m| am) not (?:allowed|permitted) to"
    r")", re.I)

HEAD_CHARS = 300


def is_refusal(text: str | None) -> bool:
    """True when the start of `text` declines the request."""
    if not text:
        return False
    return _REFUSAL.search(text[:HEAD_CHARS].replace("’", "'")) is not None
