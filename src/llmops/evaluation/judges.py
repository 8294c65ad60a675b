"""LLM-as-judge through any OpenAI-compatible endpoint (the llmops gateway included).

Three kinds: ``rubric`` scores an answer 1-5 for a criterion, ``reference`` scores its
correctness against the reference answer, ``pairwise`` prefers one of two answers and is
asked in both orders (A/B then B/A) so position bias cancels; when the two orders
disagree the result is a tie. Judge prompts are prompt versions (``judge-rubric``,
``judge-reference``, ``judge-pairwise`` are registered on first use; a suite may name its
own). The judge's reply must be JSON matching the prompt's output schema; an invalid reply
is asked again, and one that stays invalid is an error for that example, never a score.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from llmops.errors import InvalidInput
from llmops.evaluation.targets import EndpointTarget, Failure

_SCORE = {"type": "object", "required": ["score", "reason"], "properties": {
    "score": {"type": "integer", "minimum": 1, "maximum": 5}, "reason": {"type": "string"}}}
_WINNER = {"type": "object", "required": ["winner", "reason"], "properties": {
    "winner": {"enum": ["A", "B", "tie"]}, "reason": {"type": "string"}}}
_REPLY = "Reply with JSON only, no other text: "
DEFAULT_PROMPTS: dict[str, dict[str, Any]] = {
    "rubric": {
        "description": "LLM judge: score an answer 1-5 for a criterion",
        "messages": [
            {"role": "system", "content": "You are a strict, fair evaluator. Score the answer "
             "for {{ criterion }} from 1 (very poor) to 5 (excellent). " + _REPLY
             + '{"score": <1-5>, "reason": "<one sentence>"}'},
            {"role": "user", "content": "Question:\n{{ question }}\n\nAnswer:\n{{ answer }}"}],
        "variables": {"criterion": "string", "question": "string", "answer": "string"},
        "output_schema": _SCORE},
    "reference": {
        "description": "LLM judge: score an answer's correctness against a reference",
        "messages": [
            {"role": "system", "content": "You are a strict, fair evaluator. Compare the answer"
             " with the reference answer and score its {{ criterion }} from 1 (wrong) to 5 "
             "(fully correct). " + _REPLY + '{"score": <1-5>, "reason": "<one sentence>"}'},
            {"role": "user", "content": "Question:\n{{ question }}\n\nReference answer:\n"
             "{{ reference }}\n\nAnswer:\n{{ answer }}"}],
        "variables": {"criterion": "string", "question": "string", "answer": "string",
                      "reference": "string"},
        "output_schema": _SCORE},
    "pairwise": {
        "description": "LLM judge: which of two answers is better",
        "messages": [
            {"role": "system", "content": "You are a strict, fair evaluator. Decide which "
             "answer is better for {{ criterion }}, or a tie. " + _REPLY
             + '{"winner": "A" | "B" | "tie", "reason": "<one sentence>"}'},
            {"role": "user", "content": "Question:\n{{ question }}\n\nAnswer A:\n{{ a }}\n\n"
             "Answer B:\n{{ b }}"}],
        "variables": {"criterion": "string", "question": "string", "a": "string",
                      "b": "string"},
        "output_schema": _WINNER},
}


class JudgeSpec(BaseModel):
    """One judge of a suite (also `--judge KIND:NAME` with the --judge-* options)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    kind: Literal["rubric", "reference", "pairwise"] = "rubric"
    endpoint: str
    model: str
    api_key_env: str | None = None
    prompt: str | None = None  # a prompt version; default: judge-KIND
    criterion: str | None = None  # default: the name
    retries: PositiveInt = 2  # extra asks when the reply is not valid JSON for the schema
    concurrency: PositiveInt = 4

    @property
    def metric(self) -> str:
        return f"judge.{self.name}"


@dataclass(frozen=True)
class Verdict:
    score: float  # 1-5; pairwise: 1 = B wins, 0 = A wins, 0.5 = tie
    reason: str


def parse_json(text: str) -> Any:
    """The JSON object in a judge's reply, tolerating a Markdown code fence around it."""
    fenced = re.search(r"```(?:json)?\s*(.*?)```", text, re.S)
    return json.loads(fenced.group(1) if fenced else text.strip())


class Judge:
    def __init__(self, spec: JudgeSpec) -> None:
        from llmops.prompts.registry import LocalPromptRegistry
        from llmops.workspace import Workspace

        self.spec = spec
        self.endpoint = EndpointTarget(spec.endpoint, spec.model, api_key_env=spec.api_key_env)
        registry = LocalPromptRegistry(Workspace.open())
        ref = spec.prompt or f"judge-{spec.kind}"
        if spec.prompt is None:
            registry.create(ref, DEFAULT_PROMPTS[spec.kind])  # identical content: no-op
        version = registry.get(ref)
        if not version.spec.output_schema:
            raise InvalidInput(f"judge prompt {version.ref} has no output_schema: a judge's "
                               "reply must be checked against one")
        self.prompt = registry.compiled(version.ref)
        self.prompt_version = version.ref
        self.schema = version.spec.output_schema

    def _ask(self, client: Any, variables: dict[str, str]) -> dict[str, Any] | Failure:
        import jsonschema

        rendered = self.prompt.render({"criterion": self.spec.criterion or self.spec.name,
                                       **variables})
        messages = [{"role": m["role"], "content": m["content"]}
                    for m in rendered.messages or []]
        problem = ""
        for _ in range(self.spec.retries + 1):
            try:
                reply = self.endpoint.complete(client, messages, 256,
                                               response_format={"type": "json_object"})
            except Exception as exc:
                return Failure(f"judge {self.spec.name}: {exc}")
            try:
                value = parse_json(reply.text)
                jsonschema.validate(value, self.schema)
                return dict(value)
            except (ValueError, jsonschema.ValidationError) as exc:
                problem = getattr(exc, "message", str(exc))
        return Failure(f"judge {self.spec.name}: reply not valid for the schema after "
                       f"{self.spec.retries + 1} tries ({problem})")

    def score(self, items: Sequence[tuple[str, str, str | None]]) -> list[Verdict | Failure]:
        """(question, answer, reference) -> a 1-5 verdict or a failure, for each item."""
        import httpx

        if self.spec.kind == "pairwise":
            raise InvalidInput(f"judge {self.spec.name} is pairwise: it compares two "
                               "evaluations (llmops eval compare --judge), not one")

        def one(item: tuple[str, str, str | None]) -> Verdict | Failure:
            question, answer, reference = item
            variables = {"question": question, "answer": answer}
            if self.spec.kind == "reference":
                variables["reference"] = reference or ""
            got = self._ask(client, variables)
            return got if isinstance(got, Failure) else Verdict(float(got["score"]),
                                                                 str(got["reason"]))

        with httpx.Client(timeout=self.endpoint.timeout_s) as client, ThreadPoolExecutor(
                self.spec.concurrency) as pool:
            return list(pool.map(one, items))

    def prefer(self, items: Sequence[tuple[str, str, str]]) -> list[Verdict | Failure]:
        """(question, answer A, answer B) -> 1 when B is better, 0 when A is, 0.5 for a
        tie or when the two orders disagree."""
        import httpx

        def one(item: tuple[str, str, str]) -> Verdict | Failure:
            question, a, b = item
            first = self._ask(client, {"question": question, "a": a, "b": b})
            if isinstance(first, Failure):
                return first
            second = self._ask(client, {"question": question, "a": b, "b": a})
            if isinstance(second, Failure):
                return second
            swapped = {"A": "B", "B": "A", "tie": "tie"}[second["winner"]]
            if first["winner"] != swapped or first["winner"] == "tie":
                return Verdict(0.5, f"tie ({first['winner']} then {swapped} after swapping)")
            return Verdict(1.0 if first["winner"] == "B" else 0.0, str(first["reason"]))

        with httpx.Client(timeout=self.endpoint.timeout_s) as client, ThreadPoolExecutor(
                self.spec.concurrency) as pool:
            return list(pool.map(one, items))
