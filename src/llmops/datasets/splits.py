"""Splits assigned by a hash of each row, so a row never changes split as data grows."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from llmops.errors import InvalidInput

_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")


def parse_split(text: str) -> dict[str, float]:
    """Parse ``train=0.8,val=0.1,test=0.1``; the fractions must add up to 1."""
    fractions: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, eq, value = part.partition("=")
        try:
            fraction = float(value)
        except ValueError:
            fraction = -1.0
        if not eq or not _NAME.fullmatch(name) or not 0 < fraction <= 1 or name in fractions:
            raise InvalidInput(f"invalid split {part!r} in {text!r}: use NAME=FRACTION, e.g. "
                               "train=0.8,val=0.1,test=0.1",
                               errors=[{"field": "split", "message": "NAME=FRACTION"}])
        fractions[name] = fraction
    if not fractions or abs(sum(fractions.values()) - 1.0) > 1e-6:
        raise InvalidInput(f"split fractions in {text!r} must add up to 1",
                           errors=[{"field": "split", "message": "fractions must add up to 1"}])
    return fractions


class Splitter:
    """Assigns a row id to a split: a seeded hash of the id, read as a number in [0, 1)."""

    def __init__(self, fractions: dict[str, float], seed: int) -> None:
        self.seed = seed.to_bytes(8, "big", signed=True)
        self.fractions = fractions
        bounds, total = [], 0.0
        for name, fraction in fractions.items():
            total += fraction
            bounds.append((total, name))
        self._bounds = bounds

    @classmethod
    def from_spec(cls, spec: dict[str, Any] | None) -> Splitter | None:
        return cls(spec["fractions"], spec["seed"]) if spec else None

    def __call__(self, rid: bytes) -> str:
        digest = hashlib.blake2b(rid, digest_size=8, key=self.seed).digest()
        u = int.from_bytes(digest, "big") / 2**64
        for bound, name in self._bounds:
            if u < bound:
                return name
        return self._bounds[-1][1]

    def spec(self) -> dict[str, Any]:
        return {"fractions": self.fractions, "seed": int.from_bytes(self.seed, "big",
                                                                   signed=True)}
