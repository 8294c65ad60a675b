"""The dataset profile: counts, lengths, turns, roles, n-grams, PII and tokenizers."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from llmops.datasets.profile import (
    LengthCounter,
    NgramCounter,
    Profile,
    profile_rows,
    render_summary_table,
)
from llmops.datasets.tokenizers import RegexTokenizer, Tokenizer, load_tokenizer
from llmops.errors import InvalidInput


@dataclass
class Finding:
    type: str


class PiiType(enum.Enum):
    EMAIL = "email"


def fake_scan(text: str) -> list[object]:
    """One finding per word that looks like an email or a phone, typed accordingly."""
    found: list[object] = []
    for word in text.split():
        if "@" in word:
            found.append(Finding("email"))
        elif word.startswith("+") and word[1:].isdigit():
            found.append(Finding("phone"))
    return found


def assert_histogram(stats, values: list[int]) -> None:
    counts, edges = stats.histogram.counts, stats.histogram.edges
    assert sum(counts) == len(values) == stats.count
    assert len(edges) == len(counts) + 1
    assert counts == np.histogram(values, bins=edges)[0].tolist()


# --- each kind -----------------------------------------------------------------------------

def test_text_counts_rows_empty_and_duplicates_and_lengths() -> None:
    rows = [{"text": "a b c"}, {"text": ""}, {"text": "a b c"}, {"text": "  "},
            {"text": "Hello, world!"}]
    profile = profile_rows(iter(rows), "text")  # a one-shot iterator: one pass
    assert (profile.row_count, profile.empty_rows, profile.duplicate_rows) == (5, 2, 1)
    field = profile.fields["text"]
    assert (field.type, field.count, field.missing, field.empty) == ("text", 5, 0, 2)
    chars = [5, 0, 5, 2, 13]
    assert (field.chars.min, field.chars.max, field.chars.mean) == (0, 13, 5.0)
    assert field.chars.p50 == 5.0
    assert field.chars.p90 == pytest.approx(np.percentile(chars, 90))
    assert_histogram(field.chars, chars)
    # regex tokens: "a b c" -> 3, "Hello, world!" -> Hello , world !
    assert (field.tokens.min, field.tokens.max, field.tokens.mean) == (0, 4, 2.0)
    assert_histogram(field.tokens, [3, 0, 3, 0, 4])
    assert profile.tokenizer == "builtin:regex-words"
    assert profile.chars_per_token == pytest.approx(25 / 10)
    assert profile.pii is None and profile.pii_rows is None
    assert profile.chat == {} and profile.preference is None


def test_percentiles_and_histograms_match_numpy() -> None:
    rng = np.random.default_rng(7)
    lengths = rng.lognormal(4, 1, size=1500).astype(int).tolist()
    profile = profile_rows(({"text": "x" * n} for n in lengths), "text")
    chars = profile.fields["text"].chars
    for q in (50, 90, 99):
        assert getattr(chars, f"p{q}") == pytest.approx(np.percentile(lengths, q))
    assert chars.mean == pytest.approx(np.mean(lengths))
    assert (chars.min, chars.max, chars.resolution) == (min(lengths), max(lengths), 1)
    assert len(chars.histogram.counts) <= 30
    assert_histogram(chars, lengths)


def test_length_counter_coarsens_past_its_distinct_limit_and_stays_close() -> None:
    values = list(range(1000))
    counter = LengthCounter(max_distinct=64)
    for v in values:
        counter.add(v)
    stats = counter.stats()
    assert stats.resolution > 1
    assert (stats.count, stats.min, stats.max, stats.mean) == (1000, 0, 999, 499.5)
    for q in (50, 90, 99):
        assert abs(getattr(stats, f"p{q}") - np.percentile(values, q)) <= stats.resolution
    assert sum(stats.histogram.counts) == 1000
    assert stats.histogram.edges[0] <= 0 and stats.histogram.edges[-1] > 999


def test_instruction_both_shapes_blank_input_is_not_an_empty_row() -> None:
    rows = [
        {"prompt": "Say hi", "response": "Hi"},
        {"prompt": "Say bye", "response": "Bye"},
        {"instruction": "Translate", "input": "", "output": "Traduire"},
        {"instruction": "Add", "input": "1 and 2", "output": "3"},
    ]
    profile = profile_rows(rows, "instruction")
    assert (profile.row_count, profile.empty_rows, profile.duplicate_rows) == (4, 0, 0)
    assert list(profile.fields) == ["prompt", "response", "instruction", "input", "output"]
    prompt, inp = profile.fields["prompt"], profile.fields["input"]
    assert (prompt.count, prompt.missing, prompt.empty) == (2, 2, 0)
    assert (prompt.chars.min, prompt.chars.max, prompt.chars.mean) == (6, 7, 6.5)
    assert (inp.count, inp.missing, inp.empty) == (2, 2, 1)
    assert (inp.chars.min, inp.chars.max) == (0, 7)
    assert profile.fields["output"].tokens.mean == 1.0


def test_chat_turns_roles_last_roles_and_per_role_lengths() -> None:
    rows = [
        {"messages": [{"role": "system", "content": "Be brief."},
                      {"role": "user", "content": "Hi"},
                      {"role": "assistant", "content": "Hello!"}]},
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
                      {"role": "assistant", "content": None},
                      {"role": "tool", "content": "sunny"},
                      {"role": "assistant", "content": "It is sunny."}]},
        {"messages": [{"role": "user", "content": "   "}]},
    ]
    profile = profile_rows(rows, "chat")
    assert (profile.row_count, profile.empty_rows, profile.duplicate_rows) == (3, 1, 0)
    chat = profile.chat["messages"]
    assert (chat.conversations, chat.messages, chat.empty_messages) == (3, 8, 2)
    assert chat.roles == {"assistant": 3, "user": 3, "system": 1, "tool": 1}
    assert chat.last_roles == {"assistant": 2, "user": 1}
    assert (chat.turns.min, chat.turns.max, chat.turns.mean, chat.turns.p50) == (1, 4, 8 / 3, 3)
    assert_histogram(chat.turns, [3, 4, 1])
    assistant = chat.role_chars["assistant"]  # "Hello!", None, "It is sunny."
    assert (assistant.count, assistant.min, assistant.max, assistant.mean) == (3, 0, 12, 6.0)
    assert chat.role_chars["user"].max == 8  # text parts count as content
    assert chat.role_tokens["assistant"].max == 4  # It is sunny .
    field = profile.fields["messages"]
    assert (field.type, field.count, field.empty) == ("messages", 3, 1)
    assert field.chars.max == 8 + 5 + 12  # summed over the conversation


def test_preference_strings_and_message_lists() -> None:
    rows = [
        {"prompt": "2+2?", "chosen": "4, because two and two make four.", "rejected": "5"},
        {"prompt": "Capital of France?", "chosen": "Paris", "rejected": "Paris"},
        {"prompt": [{"role": "user", "content": "Hi"}],
         "chosen": [{"role": "assistant", "content": "Hello"}],
         "rejected": [{"role": "assistant", "content": "Go away, please"}]},
    ]
    profile = profile_rows(rows, "preference")
    pref = profile.preference
    assert pref is not None
    assert (pref.pairs, pref.identical, pref.chosen_longer, pref.rejected_longer,
            pref.same_length) == (3, 1, 1, 1, 1)
    assert set(profile.chat) == {"prompt", "chosen", "rejected"}
    assert profile.chat["chosen"].roles == {"assistant": 1}
    assert profile.fields["chosen"].type == "mixed"
    assert profile.fields["chosen"].count == 3


def test_eval_profiles_string_fields_and_dedups_on_the_whole_row() -> None:
    rows = [
        {"input": "1+1", "reference": "2", "score": 1},
        {"input": "1+1", "reference": "2", "score": 0},  # differs: not a duplicate
        {"input": "1+1", "reference": "2", "score": 1},
        {"input": "2+2", "expected": "4", "metadata": {"source": "gsm"}},
        {"metadata": {"source": "gsm"}, "expected": "4", "input": "2+2"},  # same, keys moved
    ]
    profile = profile_rows(rows, "eval")
    assert (profile.row_count, profile.duplicate_rows, profile.empty_rows) == (5, 2, 0)
    assert list(profile.fields) == ["input", "reference", "expected"]
    assert (profile.fields["reference"].count, profile.fields["reference"].missing) == (3, 2)


def test_row_without_text_is_empty() -> None:
    profile = profile_rows([{"id": 1}, {"messages": []}, {"text": "x"}], "text")
    assert (profile.row_count, profile.empty_rows) == (3, 2)
    assert list(profile.fields) == ["text"]


# --- n-grams and PII -----------------------------------------------------------------------

def test_top_ngrams_by_hand() -> None:
    rows = [{"text": "The cat sat on the mat."}, {"text": "the cat ran"}]
    profile = profile_rows(rows, "text")
    assert profile.top_ngrams[1] == [("cat", 2), ("mat", 1), ("ran", 1), ("sat", 1)]
    # "on the" is only stopwords: left out
    assert profile.top_ngrams[2] == [("the cat", 2), ("cat ran", 1), ("cat sat", 1),
                                     ("sat on", 1), ("the mat", 1)]
    assert profile.top_ngrams[3] == [("cat sat on", 1), ("on the mat", 1), ("sat on the", 1),
                                     ("the cat ran", 1), ("the cat sat", 1)]
    assert profile.ngram_texts == 2


def test_ngrams_come_from_the_first_sample_texts_only() -> None:
    rows = [{"text": "alpha beta"}, {"text": "gamma"}, {"text": "delta"}]
    profile = profile_rows(rows, "text", sample_ngrams=1)
    assert profile.top_ngrams[1] == [("alpha", 1), ("beta", 1)]
    assert profile.ngram_texts == 1
    assert profile_rows(rows, "text", sample_ngrams=0).top_ngrams == {}


def test_top_ngrams_keep_twenty_and_count_message_contents() -> None:
    words = [f"w{i:02d}" for i in range(30)]
    rows = [{"messages": [{"role": "user", "content": " ".join(words[: i + 1])}]}
            for i in range(30)]
    grams = profile_rows(rows, "chat").top_ngrams[1]
    assert len(grams) == 20
    assert grams[0] == ("w00", 30) and grams[19] == ("w19", 11)


def test_ngram_tables_stay_bounded_and_keep_the_frequent_ones() -> None:
    counter = NgramCounter(max_entries=30)
    for i in range(200):
        counter.add(f"common phrase rare{i} other{i}")
    assert all(len(c) <= 30 for c in counter.counters.values())
    top = counter.top(2)
    assert top[1] == [("common", 200), ("phrase", 200)]
    assert top[2][0] == ("common phrase", 200)


def test_pii_counts_by_type_with_a_fake_scanner() -> None:
    rows = [
        {"text": "mail a@b.io or c@d.io"},
        {"prompt": "call +4915112345678", "response": "no"},
        {"messages": [{"role": "user", "content": "I am x@y.org"}]},
        {"text": "nothing here"},
    ]
    profile = profile_rows(rows, "text", pii_scan=fake_scan)
    assert profile.pii == {"email": 3, "phone": 1}
    assert profile.pii_rows == 3


def test_pii_types_may_be_enums() -> None:
    profile = profile_rows([{"text": "a"}], "text",
                           pii_scan=lambda text: [Finding(PiiType.EMAIL)])
    assert profile.pii == {"email": 1}


def test_no_findings_is_an_empty_dict_not_none() -> None:
    profile = profile_rows([{"text": "clean"}], "text", pii_scan=lambda text: [])
    assert (profile.pii, profile.pii_rows) == ({}, 0)


# --- bad input -----------------------------------------------------------------------------

def test_unknown_kind_is_refused() -> None:
    with pytest.raises(InvalidInput) as err:
        profile_rows([], "images")
    assert str(err.value) == ("unknown dataset kind 'images'; expected one of: "
                              "text, instruction, chat, preference, eval")


def test_a_row_that_is_not_a_dict_is_named() -> None:
    with pytest.raises(InvalidInput) as err:
        profile_rows([{"text": "a"}, ["b"]], "text")
    assert str(err.value) == "row 1: expected an object (dict) of fields, got list"


def test_no_rows() -> None:
    profile = profile_rows([], "chat")
    assert (profile.row_count, profile.fields, profile.chars_per_token) == (0, {}, None)


# --- storage and the CLI table -------------------------------------------------------------

def test_profile_round_trips_through_json() -> None:
    rows = [{"messages": [{"role": "user", "content": "hello there"}]}, {"text": "hi"}]
    profile = profile_rows(rows, "chat", pii_scan=fake_scan)
    text = profile.model_dump_json()
    assert json.loads(text)["top_ngrams"]["1"] == [["hello", 1], ["hi", 1]]
    assert Profile.model_validate_json(text) == profile


def test_summary_table_lists_fields_roles_and_escapes_markup() -> None:
    rows = [{"[bold]odd": "x", "messages": [{"role": "user", "content": "a b"}]}]
    profile = profile_rows(rows, "chat", pii_scan=lambda text: [Finding("email")])
    console = Console(record=True, width=220)
    console.print(render_summary_table(profile))
    out = console.export_text()
    assert "chat dataset: 1 rows, 0 empty, 0 duplicate" in out
    assert "[bold]odd" in out
    assert "messages[user]" in out
    assert "roles: user 1" in out
    assert "PII: email 2 (1 rows)" in out


# --- tokenizers ----------------------------------------------------------------------------

def test_builtin_tokenizer_counts_words_and_punctuation() -> None:
    tokenizer = load_tokenizer(None)
    assert isinstance(tokenizer, RegexTokenizer) and isinstance(tokenizer, Tokenizer)
    assert tokenizer.count("Hello, world! It's 42.") == 9  # Hello , world ! It ' s 42 .
    assert tokenizer.count("") == 0


def train_tokenizer(folder: Path) -> object:
    """A tiny word-level tokenizer trained on a few hundred lines, saved as tokenizer.json."""
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import models, pre_tokenizers, trainers

    tok = tokenizers.Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    lines = [f"the quick brown fox {i} jumps over the lazy dog" for i in range(300)]
    tok.train_from_iterator(lines, trainers.BpeTrainer(vocab_size=200, show_progress=False,
                                                       special_tokens=["[UNK]"]))
    folder.mkdir(parents=True)
    tok.save(str(folder / "tokenizer.json"))
    # lets transformers, when installed, load the folder too
    (folder / "tokenizer_config.json").write_text('{"tokenizer_class": "PreTrainedTokenizerFast"}')
    return tok


def test_local_folder_with_tokenizer_json(tmp_path: Path) -> None:
    folder = tmp_path / "tok"
    trained = train_tokenizer(folder)
    tokenizer = load_tokenizer(str(folder))
    text = "the quick brown fox jumps"
    assert tokenizer.name == str(folder)
    assert tokenizer.count(text) == len(trained.encode(text).ids)
    profile = profile_rows([{"text": text}], "text", tokenizer=tokenizer)
    assert profile.tokenizer == str(folder)
    assert profile.fields["text"].tokens.max == tokenizer.count(text)
    assert load_tokenizer(str(folder / "tokenizer.json")).count(text) == tokenizer.count(text)


def test_hub_id_cached_offline_loads_from_the_cache(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("huggingface_hub")
    snapshot = tmp_path / "hub" / "models--acme--tiny" / "snapshots" / "abc123"
    train_tokenizer(snapshot)
    (tmp_path / "hub" / "models--acme--tiny" / "refs").mkdir()
    (tmp_path / "hub" / "models--acme--tiny" / "refs" / "main").write_text("abc123")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    tokenizer = load_tokenizer("acme/tiny")
    assert tokenizer.name == "acme/tiny"
    assert tokenizer.count("the lazy dog") >= 3


def test_unknown_hub_id_offline_fails_at_once(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(InvalidInput) as err:
        load_tokenizer("acme/not-cached")
    assert str(err.value) == (
        "tokenizer 'acme/not-cached' is not available offline (HF_HUB_OFFLINE=1 and it is "
        "not in the Hugging Face cache); pass a local path to a folder containing "
        "tokenizer.json")


def test_missing_local_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as err:
        load_tokenizer("./no/such/tokenizer")
    assert str(err.value) == ("tokenizer path './no/such/tokenizer' does not exist; pass a "
                              "folder that contains tokenizer.json, or a Hugging Face Hub id")


def test_folder_without_tokenizer_json(tmp_path: Path) -> None:
    pytest.importorskip("tokenizers")
    try:
        import transformers  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("transformers reports its own error for this folder")
    with pytest.raises(InvalidInput) as err:
        load_tokenizer(str(tmp_path))
    assert str(err.value) == (f"tokenizer folder {str(tmp_path)!r} has no tokenizer.json; "
                              "install transformers to load other tokenizer formats")


def test_malformed_tokenizer_json(tmp_path: Path) -> None:
    pytest.importorskip("tokenizers")
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(InvalidInput, match="cannot load tokenizer"):
        load_tokenizer(str(tmp_path / "tokenizer.json"))
