"""Few-shot examples: fixed, seeded random and similar selection, and how they render."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from llmops.errors import InvalidInput, NotFound
from llmops.prompts import Prompt, parse_spec, select_examples
from llmops.prompts.fewshot import SimilarityIndex, example_text
from llmops.workspace import Workspace

EXAMPLES = [
    {"_id": "r1", "question": "Best tram line in Lisbon?", "answer": "Tram 28."},
    {"_id": "r2", "question": "Where to eat pastel de nata in Lisbon?", "answer": "Belém."},
    {"_id": "r3", "question": "How do I get from Porto airport to the city?", "answer": "Metro E."},
    {"_id": "r4", "question": "Is Porto wine from Porto?", "answer": "From the Douro valley."},
    {"_id": "r5", "question": "When is the Paris museum free?", "answer": "First Sunday."},
    {"_id": "r6", "question": "Paris metro ticket price?", "answer": "About 2 euros."},
]


def ids(found: list[Any]) -> list[str]:
    return [e["_id"] for e in found]


def test_fixed_ids_come_in_the_order_given() -> None:
    assert ids(select_examples(EXAMPLES, mode="fixed", ids=["r4", "r1"])) == ["r4", "r1"]


def test_an_unknown_fixed_id_is_not_found_by_name() -> None:
    with pytest.raises(NotFound, match="few-shot ids not in the dataset: r9 .it has 6 rows"):
        select_examples(EXAMPLES, mode="fixed", ids=["r1", "r9"])


def test_random_choice_is_fixed_by_the_seed() -> None:
    first = ids(select_examples(EXAMPLES, mode="random", k=3, seed=7))
    assert first == ids(select_examples(EXAMPLES, mode="random", k=3, seed=7))
    assert len(set(first)) == 3
    others = {tuple(ids(select_examples(EXAMPLES, mode="random", k=3, seed=s)))
              for s in range(10)}
    assert len(others) > 1  # other seeds choose otherwise
    assert len(select_examples(EXAMPLES, mode="random", k=50, seed=1)) == len(EXAMPLES)


def test_similar_picks_the_closest_inputs_by_tfidf() -> None:
    found = select_examples(EXAMPLES, mode="similar", k=2, query="trams and food in Lisbon",
                            input_fields="question")
    assert ids(found) == ["r1", "r2"]
    found = select_examples(EXAMPLES, mode="similar", k=2, query="porto",
                            input_fields="question")
    assert ids(found) == ["r4", "r3"]  # r4 says Porto twice


def test_similar_with_no_overlap_keeps_dataset_order() -> None:
    found = select_examples(EXAMPLES, mode="similar", k=3, query="zzz",
                            input_fields="question")
    assert ids(found) == ["r1", "r2", "r3"]


def test_similar_can_use_sentence_embeddings() -> None:
    cities = ["lisbon", "porto", "paris"]

    def embed(texts: list[str]) -> Any:  # a fake embedding model: one axis per city
        return np.array([[t.lower().count(c) for c in cities] for t in texts], dtype=float)

    index = SimilarityIndex([e["question"] for e in EXAMPLES], embed=embed)
    assert index.method == "embedding"
    found = select_examples(EXAMPLES, mode="similar", k=2, query="a day in PARIS",
                            index=index)
    assert ids(found) == ["r5", "r6"]


def test_example_text_joins_several_fields() -> None:
    assert example_text(EXAMPLES[0], "answer") == "Tram 28."
    assert example_text(EXAMPLES[0], ["question", "answer"]) == (
        "question: Best tram line in Lisbon?\nanswer: Tram 28.")
    with pytest.raises(InvalidInput, match="example 'r1' has no field 'reply'; its fields: "
                                           "answer, question"):
        example_text(EXAMPLES[0], "reply")


def test_bad_modes_are_refused() -> None:
    with pytest.raises(InvalidInput, match="unknown few-shot mode 'best'"):
        select_examples(EXAMPLES, mode="best")
    with pytest.raises(InvalidInput, match="needs the current input"):
        select_examples(EXAMPLES, mode="similar")


# -- in a prompt ------------------------------------------------------------------------
def chat(few_shot: dict[str, Any], loads: list[str] | None = None) -> Prompt:
    spec = parse_spec({
        "messages": [{"role": "system", "content": "You answer travel questions."},
                      {"role": "user", "content": "{{ question }}"}],
        "variables": {"question": "string"},
        "few_shot": {"dataset": "dataset:travel-qa@2#train", "input": "question",
                     "output": "answer", **few_shot}})

    def loader(ref: str) -> tuple[str, list[dict[str, Any]]]:
        if loads is not None:
            loads.append(ref)
        return ref, EXAMPLES

    return Prompt(spec, name="travel", version=1, version_id="01V", examples=loader)


def test_examples_become_messages_after_the_system_message() -> None:
    rendered = chat({"mode": "fixed", "ids": ["r2", "r1"]}).render(question="Trams?")
    assert [m["role"] for m in rendered.messages or []] == [
        "system", "user", "assistant", "user", "assistant", "user"]
    assert (rendered.messages or [])[1:3] == [
        {"role": "user", "content": "Where to eat pastel de nata in Lisbon?"},
        {"role": "assistant", "content": "Belém."}]
    assert rendered.example_ids == ["r2", "r1"]
    assert rendered.examples_dataset == "dataset:travel-qa@2#train"
    assert "examples" not in rendered.variables


def test_similar_examples_follow_the_current_input() -> None:
    prompt = chat({"mode": "similar", "k": 2, "query": "{{ question }}"})
    assert prompt.render(question="Paris metro").example_ids == ["r6", "r5"]
    assert prompt.render(question="Porto airport").example_ids[0] == "r3"


def test_rows_are_loaded_once_per_compiled_prompt() -> None:
    loads: list[str] = []
    prompt = chat({"mode": "random", "k": 2, "seed": 3}, loads)
    first = prompt.render(question="a").example_ids
    assert prompt.render(question="b").example_ids == first
    assert loads == ["dataset:travel-qa@2#train"]


def test_example_messages_can_be_shaped_and_placed_before_the_last() -> None:
    prompt = chat({"mode": "fixed", "ids": ["r1"], "position": "before_last", "messages": [
        {"role": "user", "content": "Q: {{ example.question }} ({{ example._id|upper }})"},
        {"role": "assistant", "content": "A: {{ output }}"}]})
    messages = prompt.render(question="x").messages or []
    assert messages[1:3] == [{"role": "user", "content": "Q: Best tram line in Lisbon? (R1)"},
                             {"role": "assistant", "content": "A: Tram 28."}]


def test_a_text_prompt_loops_over_the_examples_variable() -> None:
    spec = parse_spec({
        "text": "{% for e in examples %}Q: {{ e.question }}\nA: {{ e.answer }}\n{% endfor %}"
                "Q: {{ question }}\nA:",
        "variables": {"question": "string"},
        "few_shot": {"dataset": "travel-qa@2", "mode": "fixed", "ids": ["r5"],
                     "insert": "variable"}})
    rendered = Prompt(spec, examples=lambda ref: (ref, EXAMPLES)).render(question="Metro?")
    assert rendered.text == ("Q: When is the Paris museum free?\nA: First Sunday.\n"
                             "Q: Metro?\nA:")
    assert rendered.example_ids == ["r5"]


def test_an_example_without_the_named_field_is_an_error_naming_both() -> None:
    prompt = chat({"mode": "fixed", "ids": ["r1"], "output": "reply"})
    with pytest.raises(InvalidInput, match="example 'r1' has no field 'reply'"):
        prompt.render(question="x")


def test_without_the_datasets_module_the_error_says_so(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    import llmops.prompts.fewshot as fewshot

    def missing(name: str) -> Any:
        raise ImportError(name)

    monkeypatch.setattr(fewshot.importlib, "import_module", missing)
    with pytest.raises(InvalidInput, match="llmops.datasets is not available"):
        fewshot.read_examples("dataset:x@1")


def test_examples_come_from_a_real_dataset_version(workspace: Workspace) -> None:
    from llmops import datasets
    from llmops.prompts.registry import LocalPromptRegistry

    rows = [{"input": e["question"], "expected": e["answer"]} for e in EXAMPLES]
    datasets.import_dataset("travel-qa", rows, kind="eval", workspace=workspace)
    stored = datasets.read_rows("dataset:travel-qa@1", workspace=workspace)
    registry = LocalPromptRegistry(workspace)
    registry.create("travel", {
        "messages": [{"role": "user", "content": "{{ question }}"}],
        "variables": {"question": "string"},
        "few_shot": {"dataset": "dataset:travel-qa", "mode": "similar", "k": 2,
                     "query": "{{ question }}", "output": "expected"}})
    rendered = registry.render("travel", {"question": "tram in Lisbon"})
    assert rendered.example_ids[0] == stored[0]["_id"]
    assert rendered.examples_dataset == "dataset:travel-qa@1"  # pinned to the version read
    assert (rendered.messages or [])[1] == {"role": "assistant", "content": "Tram 28."}
