"""Knowledge distillation end to end on tiny in-process models on CPU: sequence-level (the
teacher's answers become a dataset version the student is fine-tuned on) and logit
distillation (KL to the teacher's logits), their lineage, and the inputs refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmops import datasets, registry
from llmops.config import Settings
from llmops.errors import InvalidInput
from llmops.tracking import open_tracking
from llmops.training.distill import distill
from llmops.workspace import Workspace
from tests.helpers import table_counts


def _small(folder: Path, tokenizer: Any) -> Path:
    """A 1-layer student, smaller than the 2-layer tiny base."""
    from llmops.training.tinytravel.build import BaseSpec, init_model

    init_model(tokenizer, BaseSpec(vocab_size=len(tokenizer), hidden_size=32, layers=1,
                                   heads=2, kv_heads=1, intermediate_size=32, context=128,
                                   seed=1), folder)
    return folder


@pytest.fixture(scope="module")
def same_vocab_student(tiny_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import AutoTokenizer

    return _small(tmp_path_factory.mktemp("student"), AutoTokenizer.from_pretrained(tiny_base))


@pytest.fixture(scope="module")
def other_vocab_student(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from llmops.training.tinytravel.build import train_tokenizer
    from llmops.training.tinytravel.corpus import corpus_lines

    return _small(tmp_path_factory.mktemp("other"), train_tokenizer(corpus_lines()[:200], 300))


@pytest.fixture(scope="module")
def talking_teacher(tiny_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny base, made to say something: untrained, it answers with newlines or ends at
    once. Its special and whitespace-only tokens get zero embeddings (tied to the output),
    so their logit is 0 and some word token always wins the greedy choice."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    model = AutoModelForCausalLM.from_pretrained(tiny_base)
    silent = [i for i in range(len(tokenizer)) if not tokenizer.decode(
        [i], skip_special_tokens=True).strip()]
    with torch.no_grad():
        model.get_input_embeddings().weight[silent] = 0
    folder = tmp_path_factory.mktemp("teacher")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _into(node: str) -> set[tuple[str, str, str]]:
    graph = open_tracking().lineage(node)
    return {(e.source, e.target, e.relation) for e in graph.upstream if e.target == node}


def test_sequence_distillation_trains_the_student_on_the_teachers_answers(
        home: Settings, talking_teacher: Path, other_vocab_student: Path) -> None:
    from llmops.evaluation.generate import LocalGenerator

    teacher = registry.register("teacher", talking_teacher)
    student = registry.register("small", other_vocab_student)  # another tokenizer: fine here
    bars: list[str] = []
    seen: dict[str, tuple[int, int]] = {}

    def bar(label: str) -> Any:
        bars.append(label)
        return lambda done, total: seen.__setitem__(label, (done, total))

    result = distill(teacher.ref, student.ref, "travel-qa@1", register="small-distilled",
                     max_new_tokens=8, max_steps=2, batch_size=4, progress=bar)
    assert bars == ["teacher model:teacher@1 answering", "training the student"]
    assert seen[bars[0]] == (48, 48) and seen[bars[1]] == (2, 2)
    assert result.method == "sequence" and result.teacher == "model:teacher@1"
    assert result.answered + result.skipped == 48 and result.answered > 0

    # the teacher's answers: a chat dataset version, derived from the source, by the teacher
    assert result.dataset == "dataset:travel-qa-from-teacher@1"
    made = datasets.get_version(result.dataset)
    source = datasets.get_version("travel-qa@1")
    assert made.kind == "chat" and made.row_count == result.answered
    assert made.parent_id == source.id and made.source is not None
    assert made.source["teacher"] == "model:teacher@1"
    assert set(made.splits["fractions"]) == {"train", "val"}  # type: ignore[index]
    assert _into(f"dataset:{made.id}") == {
        (f"dataset:{source.id}", f"dataset:{made.id}", "derived"),
        (f"model:{teacher.id}", f"dataset:{made.id}", "generated")}
    row = datasets.read_rows(result.dataset)[0]
    prompt, answer = row["messages"][:-1], row["messages"][-1]
    assert answer["role"] == "assistant"
    assert LocalGenerator(teacher.ref).generate([prompt], max_new_tokens=8) == [
        answer["content"]]

    # the student: trained on those answers, registered, lineage to the teacher
    train = result.train
    assert train.status == "finished" and train.steps == 2
    version = train.model
    assert version is not None and version.ref == "model:small-distilled@1"
    assert version.sources["train"] == f"{result.dataset}#train"
    assert _into(f"model:{version.id}") == {
        (f"run:{train.run_id}", f"model:{version.id}", "produced"),
        (f"model:{student.id}", f"model:{version.id}", "base"),
        (f"model:{teacher.id}", f"model:{version.id}", "teacher")}
    run = open_tracking().get_run(train.run_id)
    assert run.experiment == "distillation" and run.name == "distill-sequence-teacher-1"
    assert (f"model:{teacher.id}", f"run:{run.id}", "teacher") in _into(f"run:{run.id}")
    assert (f"dataset:{made.id}", f"run:{run.id}", "input") in _into(f"run:{run.id}")


def test_logit_distillation_adds_the_kl_to_the_teachers_logits(
        home: Settings, tiny_base: Path, same_vocab_student: Path) -> None:
    teacher = registry.register("teacher", tiny_base)
    result = distill(teacher.ref, str(same_vocab_student), "travel-qa@1", method="logits",
                     register="student", max_steps=2, batch_size=4, alpha=0.25,
                     temperature=2.0)
    assert result.method == "logits" and result.dataset is None
    train = result.train
    assert train.status == "finished" and train.steps == 2
    assert set(train.metrics) == {"train_loss", "eval_loss"}
    assert any("logit distillation from model:teacher@1" in n for n in result.notes)
    tracking = open_tracking()
    run = tracking.get_run(train.run_id)
    kl = tracking.metric_history(run.id, "distill/kl").values
    ce = tracking.metric_history(run.id, "distill/ce").values
    loss = tracking.metric_history(run.id, "loss").values
    assert len(kl) == len(ce) == len(loss) == 2 and all(k > 0 for k in kl)
    for k, c, total in zip(kl, ce, loss, strict=True):  # the loss is the blend of both
        assert total == pytest.approx(0.25 * c + 0.75 * k, rel=1e-3, abs=1e-3)
    assert "distill/eval_kl" in run.metrics
    version = train.model
    assert version is not None and version.ref == "model:student@1"
    assert (f"model:{teacher.id}", f"model:{version.id}", "teacher") in _into(
        f"model:{version.id}")


def test_logits_with_two_vocabularies_and_other_bad_input_change_nothing(
        home: Settings, tiny_base: Path, other_vocab_student: Path) -> None:
    teacher = registry.register("teacher", tiny_base)
    student = registry.register("small", other_vocab_student)
    datasets.import_dataset("notes", [{"text": "Lisbon has trams."}], kind="text")
    store = Workspace.open().store
    before = table_counts(store)
    with pytest.raises(InvalidInput, match=r"^logit distillation needs one vocabulary, and the "
                       r"teacher model:teacher@1 and the student model:small@1 have 400 tokens "
                       r"and 400 logits against 300 tokens and 300 logits; use --method "
                       r"sequence, which works across tokenizers$"):
        distill(teacher.ref, student.ref, "travel-qa@1", method="logits", register="x",
                max_steps=1)
    with pytest.raises(InvalidInput, match=r"^unknown distillation method 'soft': use sequence "
                       "or logits$"):
        distill(teacher.ref, student.ref, "travel-qa@1", method="soft")
    with pytest.raises(InvalidInput, match=r"^dataset:notes@1 is a 'text' dataset, which has no "
                       "prompts for the teacher to answer"):
        distill(teacher.ref, student.ref, "notes@1", max_steps=1)
    with pytest.raises(InvalidInput, match=r"^invalid training options: max_steps: "):
        distill(teacher.ref, student.ref, "travel-qa@1", max_steps=0)
    assert table_counts(store) == before


def test_cli_distill_and_its_usage_errors(home: Settings, tiny_base: Path,
                                          same_vocab_student: Path,
                                          other_vocab_student: Path) -> None:
    import json

    from typer.testing import CliRunner

    from llmops.cli.app import app

    runner = CliRunner()
    teacher = registry.register("teacher", tiny_base)
    done = runner.invoke(app, ["models", "distill", "--teacher", teacher.ref, "--student",
                               str(same_vocab_student), "--data", "travel-qa@1#train",
                               "--method", "logits", "--register", "student", "--max-steps",
                               "1", "--batch-size", "4", "--lora", "--json"])
    assert done.exit_code == 0, done.output
    shown = json.loads(done.stdout)
    assert shown["method"] == "logits" and shown["train"]["model"]["format"] == "lora"

    store = Workspace.open().store
    before = table_counts(store)
    usage = runner.invoke(app, ["models", "distill", "--teacher", teacher.ref, "--student",
                                "x", "--data", "travel-qa@1", "--method", "soft"])
    assert usage.exit_code == 2 and "'soft': use sequence or logits" in usage.output
    refused = runner.invoke(app, ["models", "distill", "--teacher", teacher.ref, "--student",
                                  str(other_vocab_student), "--data", "travel-qa@1",
                                  "--method", "logits"])
    assert refused.exit_code == 1
    assert "logit distillation needs one vocabulary" in str(refused.exception)
    assert table_counts(store) == before
