"""Annotation queues: a sampled queue from a trace query, judged one trace at a time
through the CLI (flags and the interactive prompts), bad input changing nothing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from llmops import feedback
from llmops.errors import Conflict, InvalidInput, NotFound, ValidationFailed
from llmops.feedback.queues import complete_item, create_queue, list_queues, next_item
from llmops.workspace import Workspace
from tests.feedback.conftest import make_traces
from tests.helpers import table_counts


def _llmops(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "llmops", *args], capture_output=True,
                          text=True, input=stdin)


def test_a_queue_samples_matching_traces_and_is_worked_through(workspace: Workspace) -> None:
    ids = make_traces(workspace, *({"answer": f"a{i}"} for i in range(6)),
                      {"route": "hotels"}, {"status": 502, "output": None})
    queue = create_queue(workspace, "review", where="route == 'travel' and status == 200",
                         sample=4, actor="alice")
    assert (queue.items, queue.done, queue.sample) == (4, 0, 4)
    seen = []
    while (item := next_item(workspace, "review")) is not None:
        assert item.trace_id in ids[:6] and item.route == "travel"
        assert item.input == [{"role": "user", "content": f"question {ids.index(item.trace_id)}"}]
        seen.append(item.trace_id)
        given = complete_item(workspace, "review", item.position, actor="alice",
                              skip=len(seen) == 2, score=len(seen) + 1)
        assert (given is None) == (len(seen) == 2)
    assert len(set(seen)) == 4
    [listed] = list_queues(workspace)
    assert (listed.items, listed.done) == (4, 4)
    assert sorted(f.score for f in feedback.list_feedback()) == [2, 4, 5]
    with pytest.raises(Conflict, match="item 0 of 'review' was done by alice"):
        complete_item(workspace, "review", 0, actor="bob", score=3)


def test_bad_queues_are_refused_and_change_nothing(workspace: Workspace) -> None:
    make_traces(workspace, {})
    create_queue(workspace, "first", where="", sample=1, actor="a")
    before = table_counts(workspace.store)
    cases = [
        ({"name": "first", "where": "", "sample": 1}, Conflict,
         "annotation queue 'first' exists; choose another name"),
        ({"name": "q2", "where": "", "sample": 0}, ValidationFailed,
         "sample must be from 1 to 10,000, not 0"),
        ({"name": "q2", "where": "route == 'nowhere'", "sample": 3}, InvalidInput,
         "no trace matches --where \"route == 'nowhere'\"; `llmops traces list --where "
         "...` shows what matches"),
        ({"name": "q2", "where": "colour == 'red'", "sample": 3}, InvalidInput,
         "invalid --where: unknown column 'colour' at offset 0"),
        ({"name": "Bad Name", "where": "", "sample": 3}, InvalidInput, "invalid queue name"),
    ]
    for kwargs, error, message in cases:
        with pytest.raises(error) as err:
            create_queue(workspace, kwargs.pop("name"), actor="a", **kwargs)  # type: ignore[arg-type]
        assert err.value.detail.startswith(message), err.value.detail
    with pytest.raises(NotFound, match=r"no annotation queue 'nope' \(queues: first\)"):
        next_item(workspace, "nope")
    item = next_item(workspace, "first")
    assert item is not None
    with pytest.raises(ValidationFailed, match="score must be an integer from 1 to 5"):
        complete_item(workspace, "first", item.position, actor="a", score=7)
    assert table_counts(workspace.store) == before


def test_annotate_cli_with_flags_and_with_prompts(workspace: Workspace) -> None:
    make_traces(workspace, *({"answer": f"answer {i}"} for i in range(4)))
    made = _llmops("annotate", "create", "review", "--where", "status == 200", "--sample",
                   "4", "--json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["items"] == 4
    one = _llmops("annotate", "next", "review", "--score", "4", "--label", "ok", "--json")
    assert one.returncode == 0, one.stderr
    first = json.loads(one.stdout)
    assert (first["feedback"]["score"], first["feedback"]["labels"], first["remaining"]) == (
        4, ["ok"], 3)
    fixed = _llmops("annotate", "next", "review", "--correction", "The right answer")
    assert fixed.returncode == 0 and "recorded" in fixed.stdout and "2 left" in fixed.stdout
    # the interactive flow: a score, then an unknown key, a label, then quit
    flow = _llmops("annotate", "next", "review", stdin="2\nx\nl\ntoo short\nq\n")
    assert flow.returncode == 0, flow.stderr
    assert "answer:" in flow.stdout and "unknown choice 'x'" in flow.stdout
    assert "judged 2; 0 of 4 left" in flow.stdout
    labels = sorted(tuple(f.labels) for f in feedback.list_feedback())
    assert labels == [(), (), ("ok",), ("too short",)]
    assert "queue review is done" in _llmops("annotate", "next", "review", "--skip").stdout
    listed = json.loads(_llmops("annotate", "list", "--json").stdout)
    assert [(q["name"], q["done"], q["items"]) for q in listed] == [("review", 4, 4)]
    missing = _llmops("annotate", "next", "nope", "--score", "3")
    assert missing.returncode == 1
    assert "no annotation queue 'nope' (queues: review)" in missing.stderr
