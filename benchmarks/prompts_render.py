"""Prompt rendering: llmops vs LangChain's ChatPromptTemplate, in one process.

    python benchmarks/prompts_render.py [--quick] [--json PATH]

One typical chat template (three messages, five variables), the same inputs for every
renderer, each timed as renders per second (best of 5 runs after a warm-up):
  1. LangChain: ChatPromptTemplate.format_messages (f-string templates);
  2. llmops fast path: Prompt.render, compiled once; the templates only substitute
     variables, so they render without the Jinja sandbox, with the variables still
     checked against their schema (types, required, defaults) and the output bounded;
  3. llmops via get_prompt(ref).render: the same, looked up in the client cache each call,
     as an application does per request;
  4. llmops sandbox path: Prompt.render with the fast path turned off (every template in
     Jinja2's immutable sandbox with llmops's budget), same validation;
  5. Jinja2 sandbox alone: ImmutableSandboxedEnvironment templates compiled once, rendered
     with no validation (a reference point);
  6. str.format into the same message dicts (the floor: no checks at all).
Every renderer's output is checked to be identical before timing. The goal is the llmops
fast path >= 2x LangChain.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

GOAL = 2.0
RUNS = 5
SYSTEM = "You are a helpful travel assistant for {company}. Answer in {language}, in at most " \
         "{max_words} words."
TRIP = "I am planning a trip to {city}."
QUESTION = "{question}"
VALUES: dict[str, Any] = {"company": "Acme Travel", "language": "Portuguese", "max_words": 120,
                          "city": "Lisbon", "question": "Where should I eat on my first night?"}
SPEC = {
    "messages": [{"role": "system", "content": SYSTEM.replace("{", "{{ ").replace("}", " }}")},
                 {"role": "user", "content": TRIP.replace("{", "{{ ").replace("}", " }}")},
                 {"role": "user", "content": "{{ question }}"}],
    "variables": {"company": "string", "language": {"type": "string", "default": "English"},
                  "max_words": {"type": "integer", "description": "answer length"},
                  "city": "string", "question": "string"},
    "parameters": {"temperature": 0.2, "max_tokens": 512},
}


def rate(fn: Callable[[], Any], n: int) -> float:
    """Renders per second: the best of RUNS timed loops of `n` calls."""
    fn()
    best = float("inf")
    for _ in range(RUNS):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - start)
    return n / best


def renderers() -> dict[str, tuple[Callable[[], Any], Callable[[Any], list[str]]]]:
    """name -> (render once, the message contents it produced)."""
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    from langchain_core.prompts import ChatPromptTemplate

    import llmops
    from llmops.prompts import Prompt, parse_spec
    from llmops.prompts.registry import LocalPromptRegistry
    from llmops.workspace import Workspace

    spec = parse_spec(SPEC)
    fast = Prompt(spec, name="travel-system", version=1)
    sandboxed = Prompt(spec, name="travel-system", version=1, fast=False)
    assert fast.fast and not sandboxed.fast
    LocalPromptRegistry(Workspace.open()).create("travel-system", spec, label="production")
    llmops.get_prompt("travel-system@production")

    chat = ChatPromptTemplate.from_messages(
        [("system", SYSTEM), ("human", TRIP), ("human", QUESTION)])
    env = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined)
    jinja = [(m["role"], env.from_string(m["content"])) for m in SPEC["messages"]]
    plain = [("system", SYSTEM), ("user", TRIP), ("user", QUESTION)]

    def contents(result: Any) -> list[str]:
        return [m["content"] for m in result.messages]

    return {
        "LangChain ChatPromptTemplate.format_messages": (
            lambda: chat.format_messages(**VALUES), lambda r: [m.content for m in r]),
        "llmops fast path (Prompt.render)": (lambda: fast.render(**VALUES), contents),
        "llmops get_prompt(ref).render, cached": (
            lambda: llmops.get_prompt("travel-system@production").render(**VALUES), contents),
        "llmops sandbox path (Prompt.render)": (lambda: sandboxed.render(**VALUES), contents),
        "Jinja2 immutable sandbox alone, no checks": (
            lambda: [{"role": r, "content": t.render(VALUES)} for r, t in jinja],
            lambda r: [m["content"] for m in r]),
        "str.format, no checks (floor)": (
            lambda: [{"role": r, "content": t.format(**VALUES)} for r, t in plain],
            lambda r: [m["content"] for m in r]),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer renders (a smoke test)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    try:
        import langchain_core
    except ImportError:
        print("langchain-core is missing: pip install -e '.[bench]' (or langchain-core)")
        return 1
    n = 2_000 if args.quick else 20_000
    with tempfile.TemporaryDirectory() as home:
        os.environ["LLMOPS_HOME"] = home
        for name in ("LLMOPS_DATABASE_URL", "LLMOPS_SERVER_URL", "LLMOPS_ARTIFACT_URL"):
            os.environ.pop(name, None)
        found = renderers()
        expected = None
        for name, (render, contents) in found.items():
            got = contents(render())
            expected = expected or got
            assert got == expected, (name, got, expected)
        print(f"machine: {platform.machine()} {platform.system()} {platform.release()}, "
              f"{os.cpu_count()} CPUs, Python {platform.python_version()}")
        print(f"langchain-core {langchain_core.__version__}, jinja2 {version('jinja2')}, "
              f"llmops {version('llmops')}; {n:,} renders per run, best of {RUNS}")
        results = {name: rate(render, n) for name, (render, _) in found.items()}
    base = results["LangChain ChatPromptTemplate.format_messages"]
    print()
    print("| renderer | renders/s | vs LangChain |")
    print("|---|---:|---:|")
    for name, value in results.items():
        print(f"| {name} | {value:,.0f} | {value / base:.2f}x |")
    ratio = results["llmops fast path (Prompt.render)"] / base
    print(f"\ngoal: llmops fast path >= {GOAL:g}x LangChain: "
          f"{'met' if ratio >= GOAL else 'NOT met'} ({ratio:.2f}x)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"renders_per_s": results, "ratio_fast_vs_langchain": ratio,
                       "n": n, "runs": RUNS}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
