"""PII detection and redaction: find e-mails, phones, cards, IBANs, IPs and secrets in text.

One explicit registry, `DETECTORS` (name -> detector), serves the dataset import, the
trace-to-dataset path and the gateway. A detector is any callable `text -> findings`;
`register_detector` adds one through the same door as the built-ins. `scan_text` runs the
registry and resolves overlaps; `Redactor` replaces what it finds with numbered
placeholders (`<EMAIL_1>`) that are consistent within one row.

The detectors themselves, and what each flags and deliberately does not, are in
`llmops.datasets.detectors`.

Redaction reports (`Replacement`) hold the field path, type, placeholder and offsets,
never the raw value: they are stored with the dataset, which must not leak what it hides.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from llmops.datasets.detectors import (
    Detector,
    Finding,
    PhoneDetector,
    SecretDetector,
    detect_cards,
    detect_emails,
    detect_ibans,
    detect_ips,
)
from llmops.errors import InvalidInput

__all__ = ["DETECTORS", "Detector", "Finding", "Redactor", "Replacement", "register_detector",
           "scan_text", "summarize"]


@dataclass(frozen=True)
class Replacement:
    """One redaction, as stored in a dataset's report: no raw value, by design.

    Attributes:
        field: Dotted path of the string within the row, e.g. "messages.1.content".
        type: The finding's type.
        placeholder: What replaced it, e.g. "<EMAIL_1>".
        start: Offset in the original string.
        end: End offset in the original string.
    """

    field: str
    type: str
    placeholder: str
    start: int
    end: int


# --- registry ---------------------------------------------------------------------------

# insertion order is specificity order: on a tie in length the earlier detector wins
DETECTORS: dict[str, Detector] = {
    "secret": SecretDetector(),
    "iban": detect_ibans,
    "card": detect_cards,
    "email": detect_emails,
    "ip": detect_ips,
    "phone": PhoneDetector(),
}


def register_detector(name: str, detector: Detector, *, replace: bool = False) -> None:
    """Add a detector to `DETECTORS`, or swap one (e.g. a `PhoneDetector("DE")`).

    Args:
        name: The name `types=` selects it by; its findings should use it as `type`.
        detector: A callable returning the findings in a text.
        replace: Allow replacing an existing detector; it keeps its place in tie-breaks.

    Raises:
        InvalidInput: The name is taken and `replace` is false, or the name is not a
            lower-case identifier.
    """
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise InvalidInput(f"detector name {name!r}: use a lower-case identifier like 'passport'")
    if name in DETECTORS and not replace:
        raise InvalidInput(f"detector {name!r} is already registered; pass replace=True "
                           "to swap it")
    DETECTORS[name] = detector


def _select(types: Iterable[str] | None) -> list[Detector]:
    if types is None:
        return list(DETECTORS.values())
    wanted = set(types)
    unknown = sorted(wanted - DETECTORS.keys())
    if unknown:
        raise InvalidInput(f"unknown PII type(s) {', '.join(unknown)}; known: "
                           f"{', '.join(DETECTORS)}")
    return [d for name, d in DETECTORS.items() if name in wanted]


def _resolve(candidates: list[tuple[int, Finding]]) -> list[Finding]:
    # longest first; on equal length the more specific (earlier registered) detector
    candidates.sort(key=lambda rf: (rf[1].start - rf[1].end, rf[0], rf[1].start))
    kept: list[Finding] = []  # disjoint, sorted by start
    starts: list[int] = []
    for _, f in candidates:
        i = bisect_right(starts, f.start)
        if (i and kept[i - 1].end > f.start) or (i < len(kept) and kept[i].start < f.end):
            continue
        kept.insert(i, f)
        starts.insert(i, f.start)
    return kept


def _scan(text: str, detectors: list[Detector]) -> list[Finding]:
    candidates = [(rank, f) for rank, detect in enumerate(detectors)
                  for f in detect(text) if f.end > f.start]
    if len(candidates) < 2:
        return [f for _, f in candidates]
    return _resolve(candidates)


def scan_text(text: str, *, types: Iterable[str] | None = None) -> list[Finding]:
    """Find PII in `text`: non-overlapping findings sorted by start.

    Where findings overlap, the longer wins; on equal length the more specific type
    (registry order: secret, iban, card, email, ip, phone, then custom ones).

    Args:
        text: The string to scan.
        types: Detector names to run (default: all registered).

    Raises:
        InvalidInput: `types` names an unregistered detector.
    """
    return _scan(text, _select(types))


def summarize(findings: Iterable[Finding | Replacement]) -> dict[str, int]:
    """Count findings (or replacements) per type, for dataset profiles."""
    return dict(sorted(Counter(f.type for f in findings).items()))


# --- redaction --------------------------------------------------------------------------

def _label(type_: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", type_.upper())


class _RowState:
    """Placeholders handed out so far in one row."""

    def __init__(self) -> None:
        self.placeholders: dict[tuple[str, str], str] = {}
        self.counts: Counter[str] = Counter()

    def placeholder(self, finding: Finding) -> str:
        key = (finding.type, finding.key)
        if key not in self.placeholders:
            self.counts[finding.type] += 1
            self.placeholders[key] = f"<{_label(finding.type)}_{self.counts[finding.type]}>"
        return self.placeholders[key]


class Redactor:
    """Replace PII with placeholders, consistent within a row.

    The same value (compared in canonical form: e-mails case-insensitively, phones as
    E.164, cards and IBANs without separators) gets the same placeholder everywhere in a
    row; numbering restarts with each row. Only strings are scanned: dict keys, numbers
    and booleans pass through unchanged.

    Args:
        types: Detector names to apply (default: all registered at construction).

    Raises:
        InvalidInput: `types` names an unregistered detector.
    """

    def __init__(self, types: Iterable[str] | None = None) -> None:
        self._detectors = _select(types)

    def redact_row(self, row: Mapping[str, Any]) -> tuple[dict[str, Any], list[Replacement]]:
        """Redact every string in `row`, nested dicts and lists included.

        Args:
            row: A record, e.g. ``{"messages": [{"role": "user", "content": "..."}]}``.

        Returns:
            The redacted copy and one `Replacement` per replaced span, in row order; a
            nested field's path joins keys and list indices with dots
            (``messages.1.content``).
        """
        state, report = _RowState(), list[Replacement]()
        redacted = {key: self._walk(value, str(key), state, report) for key, value in row.items()}
        return redacted, report

    def redact_text(self, text: str) -> tuple[str, list[Replacement]]:
        """Redact one string as a row of its own (the report's field is "")."""
        report: list[Replacement] = []
        return self._redact(text, "", _RowState(), report), report

    def _walk(self, value: Any, path: str, state: _RowState, report: list[Replacement]) -> Any:
        if isinstance(value, str):
            return self._redact(value, path, state, report)
        if isinstance(value, Mapping):
            return {k: self._walk(v, f"{path}.{k}", state, report) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._walk(v, f"{path}.{i}", state, report) for i, v in enumerate(value)]
        return value

    def _redact(self, text: str, path: str, state: _RowState,
                report: list[Replacement]) -> str:
        findings = _scan(text, self._detectors)
        if not findings:
            return text
        pieces, pos = [], 0
        for f in findings:
            placeholder = state.placeholder(f)
            report.append(Replacement(path, f.type, placeholder, f.start, f.end))
            pieces += [text[pos:f.start], placeholder]
            pos = f.end
        pieces.append(text[pos:])
        return "".join(pieces)
