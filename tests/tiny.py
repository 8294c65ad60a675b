"""Fixtures for model tests: a tiny Llama model built in-process (2 layers, width 32, a
tokenizer trained on a few hundred corpus lines) and small travel datasets, in a fresh
SQLite home."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmops import datasets
from llmops.config import Settings

ROOT = Path(__file__).resolve().parents[1]
QA = ROOT / "examples" / "data" / "travel-qa.jsonl"


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised tiny Llama with a trained tokenizer and a chat template."""
    from llmops.training.tinytravel.build import BaseSpec, init_model, train_tokenizer
    from llmops.training.tinytravel.corpus import corpus_lines

    folder = tmp_path_factory.mktemp("tiny-base")
    spec = BaseSpec(vocab_size=400, hidden_size=32, layers=2, heads=2, kv_heads=1,
                    intermediate_size=64, context=128)
    init_model(train_tokenizer(corpus_lines()[:300], spec.vocab_size), spec, folder)
    return folder


def qa_rows(n: int) -> list[dict[str, object]]:
    return [json.loads(line) for line in QA.read_text().splitlines()[:n]]


def preference_rows(n: int) -> list[dict[str, object]]:
    """The real answer is chosen; another row's answer is rejected."""
    rows = qa_rows(n + 1)
    return [{"prompt": r["messages"][1]["content"],  # type: ignore[index]
             "chosen": r["messages"][2]["content"],  # type: ignore[index]
             "rejected": rows[i + 1]["messages"][2]["content"]}  # type: ignore[index]
            for i, r in enumerate(rows[:n])]


@pytest.fixture
def home(sqlite_settings: Settings) -> Settings:
    """A fresh home with travel-qa@1 (chat, train/val) and travel-prefs@1 (preference)."""
    datasets.import_dataset("travel-qa", qa_rows(48), kind="chat",
                            split={"train": 0.75, "val": 0.25})
    datasets.import_dataset("travel-prefs", preference_rows(24), kind="preference")
    return sqlite_settings
