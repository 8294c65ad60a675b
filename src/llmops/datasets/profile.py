"""The profile of a dataset version: lengths, turns, roles, duplicates, n-grams and PII.

`profile_rows` reads the rows once, in order, and keeps memory bounded whatever their number:

- Lengths (characters and tokens per field, turns per conversation, characters per role) are
  kept as counts of each distinct length, not as one value per row. Percentiles and
  histograms are exact while a series has at most `MAX_DISTINCT_LENGTHS` distinct values;
  past that, lengths are merged into buckets of a width that doubles as needed, and that
  width is reported as `resolution` (percentiles are then exact to within it).
- Exact duplicate rows are found through a set of 16-byte BLAKE2b hashes of each row's
  canonical JSON (sorted keys, no spaces): about 100 bytes per distinct row.
- Top n-grams come from the first `sample_ngrams` texts (every string field and message
  content is one text). An n-gram table that grows past `MAX_NGRAM_ENTRIES` forgets the
  n-grams seen once so far (lossy counting), so the counts of rare n-grams may be low; the
  top 20 of any real dataset are far above that noise.
- PII findings are counted on every text, by each finding's `type`.

The profile is a pydantic model, stored as JSON text with the version.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable
from enum import Enum
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field
from rich.markup import escape
from rich.table import Table

from llmops.datasets.kinds import KINDS
from llmops.datasets.tokenizers import RegexTokenizer, Tokenizer
from llmops.errors import InvalidInput

MAX_DISTINCT_LENGTHS = 50_000
MAX_NGRAM_ENTRIES = 300_000
HISTOGRAM_BINS = 30
TOP_NGRAMS = 20

STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing don't down during each few for from
further had has have having he her here hers herself him himself his how i i'm if in into is
it it's its itself just let's me more most my myself no nor not now of off on once only or
other our ours ourselves out over own same she should so some such than that that's the their
theirs them themselves then there these they this those through to too under until up very
was we were what when where which while who whom why will with would you your yours yourself
yourselves also s t
""".split())

_WORD_OR_PUNCT = re.compile(r"\w+|[^\w\s]")
_NGRAM_WORD = re.compile(r"\w+(?:['’]\w+)*")


# --- the stored model ----------------------------------------------------------------------

class Histogram(BaseModel):
    """Counts per bin: bin i holds values v with edges[i] <= v < edges[i + 1]."""

    edges: list[int] = Field(default_factory=list)
    counts: list[int] = Field(default_factory=list)


class LengthStats(BaseModel):
    """Summary of an integer series (lengths, turns); percentiles as numpy's "linear"."""

    count: int = 0
    min: int = 0
    max: int = 0
    mean: float = 0.0
    p50: float = 0.0
    p90: float = 0.0
    p99: float = 0.0
    histogram: Histogram = Field(default_factory=Histogram)
    resolution: int = 1
    """1 when percentiles and histogram are exact, else the bucket width they were read at."""


class FieldProfile(BaseModel):
    """One top-level field: a string, or a list of messages (lengths summed per row)."""

    type: Literal["text", "messages", "mixed"] = "text"
    count: int = 0
    """Rows where the field holds a string or a list of messages."""
    missing: int = 0
    """Rows without the field (or with a value of another type)."""
    empty: int = 0
    """Rows where it is blank: only whitespace, or messages with no content."""
    chars: LengthStats = Field(default_factory=LengthStats)
    tokens: LengthStats = Field(default_factory=LengthStats)


class ChatProfile(BaseModel):
    """The structure of one field holding conversations (lists of role/content messages)."""

    conversations: int = 0
    messages: int = 0
    empty_messages: int = 0
    turns: LengthStats = Field(default_factory=LengthStats)
    """Messages per conversation."""
    roles: dict[str, int] = Field(default_factory=dict)
    """Messages per role."""
    last_roles: dict[str, int] = Field(default_factory=dict)
    """Conversations per role of their last message (training data usually ends with
    the assistant)."""
    role_chars: dict[str, LengthStats] = Field(default_factory=dict)
    role_tokens: dict[str, LengthStats] = Field(default_factory=dict)


class PreferenceProfile(BaseModel):
    """Chosen against rejected, in characters: a strong length bias is worth knowing."""

    pairs: int = 0
    identical: int = 0
    chosen_longer: int = 0
    rejected_longer: int = 0
    same_length: int = 0
    """Pairs of equal length, identical ones included."""


class Profile(BaseModel):
    """The exploratory profile of a dataset version; stored with it as JSON."""

    schema_version: int = 1
    kind: str
    row_count: int = 0
    empty_rows: int = 0
    """Rows without any non-blank text (in string fields or message contents)."""
    duplicate_rows: int = 0
    """Rows equal to an earlier row (canonical JSON): row_count - duplicate_rows are distinct."""
    fields: dict[str, FieldProfile] = Field(default_factory=dict)
    chat: dict[str, ChatProfile] = Field(default_factory=dict)
    """Per field holding conversations: "messages" for chat, prompt/chosen/rejected for
    preference rows that use message lists."""
    preference: PreferenceProfile | None = None
    top_ngrams: dict[int, list[tuple[str, int]]] = Field(default_factory=dict)
    """n -> the 20 most frequent n-grams of lowercase words, ties by n-gram. Unigrams that are
    English stopwords, and longer n-grams made only of stopwords, are left out."""
    ngram_texts: int = 0
    """How many texts the n-grams were counted on (the first `sample_ngrams`)."""
    pii: dict[str, int] | None = None
    """Findings per type; None when no scanner ran."""
    pii_rows: int | None = None
    """Rows with at least one finding; None when no scanner ran."""
    tokenizer: str
    chars_per_token: float | None = None
    """Characters per token over all texts: about 4 for English with a BPE tokenizer."""


# --- accumulators --------------------------------------------------------------------------

class LengthCounter:
    """Counts of each distinct integer value: exact statistics in memory bounded by the
    number of distinct values, coarsened (see module docstring) past `max_distinct`."""

    def __init__(self, max_distinct: int = MAX_DISTINCT_LENGTHS) -> None:
        self._counts: dict[int, int] = {}
        self._max_distinct = max_distinct
        self.resolution = 1
        self.n = 0
        self.total = 0
        self.min = 0
        self.max = 0

    def add(self, value: int) -> None:
        if self.n == 0 or value < self.min:
            self.min = value
        if self.n == 0 or value > self.max:
            self.max = value
        self.n += 1
        self.total += value
        key = value - value % self.resolution
        self._counts[key] = self._counts.get(key, 0) + 1
        if len(self._counts) > self._max_distinct:
            self._coarsen()

    def _coarsen(self) -> None:
        while len(self._counts) > self._max_distinct // 2:
            self.resolution *= 2
            merged: dict[int, int] = {}
            for key, count in self._counts.items():
                bucket = key - key % self.resolution
                merged[bucket] = merged.get(bucket, 0) + count
            self._counts = merged

    def stats(self, bins: int = HISTOGRAM_BINS) -> LengthStats:
        """Count, min, max, mean, p50/p90/p99 and a histogram of at most `bins` bins."""
        if self.n == 0:
            return LengthStats()
        keys = np.array(sorted(self._counts), dtype=np.int64)
        counts = np.array([self._counts[k] for k in keys.tolist()], dtype=np.int64)
        res = self.resolution
        values = keys.astype(np.float64)
        if res > 1:  # a bucket stands for its middle, kept inside the true range
            values = np.clip(values + (res - 1) / 2, self.min, self.max)
        cumulative = np.cumsum(counts)

        def at(rank: int) -> float:
            return float(values[int(np.searchsorted(cumulative, rank, side="right"))])

        def percentile(q: float) -> float:
            h = (self.n - 1) * q / 100
            low = math.floor(h)
            high = min(low + 1, self.n - 1)
            return at(low) + (h - low) * (at(high) - at(low))

        start = self.min - self.min % res
        span = self.max - self.max % res + res - start
        width = max(res, math.ceil(span / bins / res) * res)
        nbins = math.ceil(span / width)
        index = (keys - start) // width
        hist = np.bincount(index, weights=counts, minlength=nbins)
        return LengthStats(
            count=self.n, min=self.min, max=self.max, mean=self.total / self.n,
            p50=percentile(50), p90=percentile(90), p99=percentile(99),
            histogram=Histogram(edges=[start + i * width for i in range(nbins + 1)],
                                counts=[int(round(c)) for c in hist.tolist()]),
            resolution=res)


class _FieldAcc:
    def __init__(self) -> None:
        self.types: set[str] = set()
        self.count = 0
        self.empty = 0
        self.chars = LengthCounter()
        self.tokens = LengthCounter()

    def result(self, row_count: int) -> FieldProfile:
        kind: Any = next(iter(self.types)) if len(self.types) == 1 else "mixed"
        return FieldProfile(type=kind, count=self.count, missing=row_count - self.count,
                            empty=self.empty, chars=self.chars.stats(),
                            tokens=self.tokens.stats())


class _ChatAcc:
    def __init__(self) -> None:
        self.conversations = 0
        self.messages = 0
        self.empty_messages = 0
        self.turns = LengthCounter()
        self.roles: Counter[str] = Counter()
        self.last_roles: Counter[str] = Counter()
        self.role_chars: dict[str, LengthCounter] = {}
        self.role_tokens: dict[str, LengthCounter] = {}

    def result(self) -> ChatProfile:
        return ChatProfile(
            conversations=self.conversations, messages=self.messages,
            empty_messages=self.empty_messages, turns=self.turns.stats(),
            roles=dict(self.roles.most_common()), last_roles=dict(self.last_roles.most_common()),
            role_chars={r: c.stats() for r, c in self.role_chars.items()},
            role_tokens={r: c.stats() for r, c in self.role_tokens.items()})


class NgramCounter:
    """Counts of 1-, 2- and 3-grams of lowercase words, bounded (see module docstring)."""

    def __init__(self, max_entries: int = MAX_NGRAM_ENTRIES) -> None:
        self.counters: dict[int, Counter[str]] = {1: Counter(), 2: Counter(), 3: Counter()}
        self._max_entries = max_entries

    def add(self, text: str) -> None:
        """Count the n-grams of one text; stopword-only n-grams are left out."""
        words = _NGRAM_WORD.findall(text.lower())
        grams = {
            1: [w for w in words if w not in STOPWORDS],
            2: [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)
                if a not in STOPWORDS or b not in STOPWORDS],
            3: [f"{a} {b} {c}" for a, b, c in zip(words, words[1:], words[2:], strict=False)
                if a not in STOPWORDS or b not in STOPWORDS or c not in STOPWORDS],
        }
        for n, counter in self.counters.items():
            counter.update(grams[n])
            if len(counter) > self._max_entries:
                self.counters[n] = self._prune(counter)

    def _prune(self, counter: Counter[str]) -> Counter[str]:
        """Forget the n-grams seen once (lossy counting), then, if still too many, all but
        the most frequent third, so that the next prune is many texts away."""
        kept = Counter({gram: c for gram, c in counter.items() if c > 1})
        if len(kept) > self._max_entries // 3:
            kept = Counter(dict(heapq.nlargest(self._max_entries // 3, kept.items(),
                                               key=lambda item: item[1])))
        return kept

    def top(self, k: int = TOP_NGRAMS) -> dict[int, list[tuple[str, int]]]:
        """n -> the k most frequent n-grams and their counts, ties in alphabetical order."""
        return {n: heapq.nsmallest(k, c.items(), key=lambda item: (-item[1], item[0]))
                for n, c in self.counters.items()}


def _is_messages(value: Any) -> bool:
    return (isinstance(value, list) and len(value) > 0
            and all(isinstance(m, dict) and ("content" in m or "role" in m) for m in value))


def _content_text(content: Any) -> str:
    """Message content as text: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p if isinstance(p, str) else p.get("text") if isinstance(p, dict) else None
                 for p in content]
        return "\n".join(p for p in parts if isinstance(p, str))
    return ""


def _finding_type(finding: Any) -> str:
    kind = getattr(finding, "type", None)
    if kind is None and isinstance(finding, dict):
        kind = finding.get("type")
    return str(kind.value) if isinstance(kind, Enum) else str(kind)


def _row_hash(row: dict[str, Any]) -> bytes:
    text = json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=str)
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


# --- the profile ---------------------------------------------------------------------------

def profile_rows(
    rows: Iterable[dict[str, Any]],
    kind: str,
    *,
    tokenizer: Tokenizer | None = None,
    pii_scan: Callable[[str], list[Any]] | None = None,
    sample_ngrams: int = 100_000,
) -> Profile:
    """Profile rows in one pass, in memory bounded as the module docstring says.

    Every top-level string field is profiled, and every field holding a list of messages
    (dicts with "role" and "content"); other values (numbers, nested objects) are only part
    of the duplicate check. Wrap `rows` in a progress bar to show progress.

    Args:
        rows: the rows, plain dicts, e.g. a version's rows as they are read.
        kind: the dataset kind: text, instruction, chat, preference or eval.
        tokenizer: counts tokens; the built-in `RegexTokenizer` when None.
        pii_scan: called on every text; returns findings that have a `.type`.
        sample_ngrams: n-grams are counted on the first this many texts (0: none).

    Returns:
        The `Profile`.

    Raises:
        InvalidInput: an unknown kind, or a row that is not a dict (names the row).
    """
    if kind not in KINDS:
        raise InvalidInput(f"unknown dataset kind {kind!r}; expected one of: "
                           + ", ".join(KINDS))
    tokenizer = tokenizer or RegexTokenizer()
    fields: dict[str, _FieldAcc] = {}
    chats: dict[str, _ChatAcc] = {}
    ngrams = NgramCounter()
    seen: set[bytes] = set()
    pii: Counter[str] = Counter()
    preference = PreferenceProfile() if kind == "preference" else None
    state = {"rows": 0, "empty": 0, "dups": 0, "pii_rows": 0, "texts": 0, "chars": 0,
             "tokens": 0}

    def text_seen(text: str) -> tuple[int, int, int]:
        """(chars, tokens, pii findings) of one text, counted into the totals."""
        chars, tokens = len(text), tokenizer.count(text)
        state["chars"] += chars
        state["tokens"] += tokens
        if state["texts"] < sample_ngrams:
            ngrams.add(text)
        state["texts"] += 1
        found = 0
        if pii_scan is not None and text:
            for finding in pii_scan(text):
                pii[_finding_type(finding)] += 1
                found += 1
        return chars, tokens, found

    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise InvalidInput(f"row {index}: expected an object (dict) of fields, "
                               f"got {type(row).__name__}")
        state["rows"] += 1
        digest = _row_hash(row)
        if digest in seen:
            state["dups"] += 1
        else:
            seen.add(digest)
        has_text = False
        row_pii = 0
        flat: dict[str, str] = {}
        for name, value in row.items():
            is_messages = _is_messages(value) or (value == [] and name in chats)
            if not isinstance(value, str) and not is_messages:
                continue
            acc = fields.setdefault(name, _FieldAcc())
            acc.count += 1
            if isinstance(value, str):
                acc.types.add("text")
                chars, tokens, found = text_seen(value)
                row_pii += found
                blank = not value.strip()
                flat[name] = value
            else:
                acc.types.add("messages")
                chat = chats.setdefault(name, _ChatAcc())
                chat.conversations += 1
                chat.turns.add(len(value))
                chars = tokens = 0
                blank = True
                contents = []
                for message in value:
                    role = str(message.get("role") or "(none)")
                    content = _content_text(message.get("content"))
                    contents.append(content)
                    c, t, found = text_seen(content)
                    chars, tokens, row_pii = chars + c, tokens + t, row_pii + found
                    chat.messages += 1
                    chat.roles[role] += 1
                    chat.role_chars.setdefault(role, LengthCounter()).add(c)
                    chat.role_tokens.setdefault(role, LengthCounter()).add(t)
                    if content.strip():
                        blank = False
                    else:
                        chat.empty_messages += 1
                if value:
                    chat.last_roles[str(value[-1].get("role") or "(none)")] += 1
                flat[name] = "\n".join(contents)
            acc.chars.add(chars)
            acc.tokens.add(tokens)
            acc.empty += blank
            has_text = has_text or not blank
        state["empty"] += not has_text
        state["pii_rows"] += row_pii > 0
        if preference is not None and "chosen" in flat and "rejected" in flat:
            chosen, rejected = flat["chosen"], flat["rejected"]
            preference.pairs += 1
            preference.identical += chosen == rejected
            preference.chosen_longer += len(chosen) > len(rejected)
            preference.rejected_longer += len(chosen) < len(rejected)
            preference.same_length += len(chosen) == len(rejected)

    rows_total = state["rows"]
    return Profile(
        kind=kind, row_count=rows_total, empty_rows=state["empty"],
        duplicate_rows=state["dups"],
        fields={name: acc.result(rows_total) for name, acc in fields.items()},
        chat={name: acc.result() for name, acc in chats.items()},
        preference=preference,
        top_ngrams=ngrams.top() if sample_ngrams > 0 else {},
        ngram_texts=min(state["texts"], max(sample_ngrams, 0)),
        pii=dict(pii.most_common()) if pii_scan is not None else None,
        pii_rows=state["pii_rows"] if pii_scan is not None else None,
        tokenizer=tokenizer.name,
        chars_per_token=state["chars"] / state["tokens"] if state["tokens"] else None)


# --- the CLI summary -----------------------------------------------------------------------

def _num(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _length_cells(chars: LengthStats, tokens: LengthStats) -> list[str]:
    return [_num(x) for s in (chars, tokens) for x in (s.mean, s.p50, s.p90, s.p99, s.max)]


def render_summary_table(profile: Profile) -> Table:
    """The `llmops datasets profile` summary: one row per field and per chat role.

    The title carries the row counts; the caption, turns, roles and PII. Every string that
    comes from the data is escaped for rich markup.

    Args:
        profile: the profile to show.

    Returns:
        A rich `Table` to print.
    """
    title = (f"{profile.kind} dataset: {profile.row_count:,} rows, "
             f"{profile.empty_rows:,} empty, {profile.duplicate_rows:,} duplicate")
    table = Table(title=title, title_justify="left", caption_justify="left")
    table.add_column("field", overflow="fold")
    for column in ("rows", "empty"):
        table.add_column(column, justify="right")
    for unit in ("chars", "tokens"):
        for stat in ("mean", "p50", "p90", "p99", "max"):
            table.add_column(f"{unit}\n{stat}", justify="right")
    for name, field in profile.fields.items():
        table.add_row(escape(name), f"{field.count:,}", f"{field.empty:,}",
                      *_length_cells(field.chars, field.tokens))
    for name, chat in profile.chat.items():
        table.add_section()
        for role, chars in chat.role_chars.items():
            tokens = chat.role_tokens.get(role, LengthStats())
            table.add_row(escape(f"{name}[{role}]"), f"{chars.count:,}", "",
                          *_length_cells(chars, tokens))
    notes = [f"tokens: {escape(profile.tokenizer)}"]
    for name, chat in profile.chat.items():
        t = chat.turns
        roles = ", ".join(f"{escape(r)} {c:,}" for r, c in chat.roles.items())
        notes.append(f"{escape(name)}: turns p50 {_num(t.p50)}, p90 {_num(t.p90)}, "
                     f"max {t.max:,}; roles: {roles}")
    if profile.preference is not None and profile.preference.pairs:
        p = profile.preference
        notes.append(f"preference: chosen longer in {p.chosen_longer:,} of {p.pairs:,} pairs, "
                     f"rejected longer in {p.rejected_longer:,}, identical {p.identical:,}")
    if profile.pii is not None:
        found = ", ".join(f"{escape(k)} {v:,}" for k, v in profile.pii.items()) or "none"
        notes.append(f"PII: {found} ({profile.pii_rows or 0:,} rows)")
    table.caption = "\n".join(notes)
    return table
