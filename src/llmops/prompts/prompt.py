"""A prompt version compiled for rendering, and what one render returns.

    prompt = Prompt(spec, name="travel-system", version=3)
    rendered = prompt.render(city="Lisbon")
    rendered.messages       # [{"role": "system", "content": "..."}, ...]
    rendered.parameters     # {"temperature": 0.2, ...}
    rendered.lineage_node   # "prompt:<version id>": record it with what the render made

`llmops.get_prompt(ref)` returns a `Prompt` from the registry (cached); `Prompt(spec)`
builds one from a spec that was never stored (tests, notebooks, benchmarks).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from llmops.errors import InvalidInput
from llmops.prompts.budget import CURRENT_BUDGET, DEFAULT_LIMITS, Budget, RenderLimits
from llmops.prompts.fewshot import ExampleLoader, FewShotResolver, example_id, read_examples
from llmops.prompts.spec import PromptSpec
from llmops.prompts.template import CompiledTemplate, compile_template
from llmops.prompts.variables import VariableChecker


@dataclass(slots=True)
class RenderedPrompt:
    """One render: the messages (or text) and parameters to send, and what made them.

    Attributes:
        name, version, version_id, content_hash: the prompt version rendered.
        messages: chat messages (``role``, ``content``, optional ``name``), for chat
            templates; None for text templates.
        text: the rendered text, for text templates; None for chat templates.
        parameters: model parameters (temperature, top_p, max_tokens, stop, ...).
        variables: the variables rendered with, defaults included.
        example_ids: the few-shot example row ids used, in order.
        examples_dataset: the dataset reference they came from.
        output_schema: the JSON Schema the answer should follow, if any.
    """

    name: str
    version: int
    version_id: str
    content_hash: str
    messages: list[dict[str, str]] | None
    text: str | None
    parameters: dict[str, Any]
    variables: dict[str, Any]
    example_ids: list[str] = field(default_factory=list)
    examples_dataset: str | None = None
    output_schema: dict[str, Any] | None = None

    @property
    def ref(self) -> str:
        """``prompt:NAME@VERSION``: the immutable version, as a reference."""
        return f"prompt:{self.name}@{self.version}"

    @property
    def lineage_node(self) -> str:
        """``prompt:VERSION_ID``: the node to record in lineage with what this made."""
        return f"prompt:{self.version_id}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "version_id": self.version_id,
                "content_hash": self.content_hash, "ref": self.ref,
                "messages": self.messages, "text": self.text,
                "parameters": self.parameters, "variables": self.variables,
                "example_ids": self.example_ids, "examples_dataset": self.examples_dataset,
                "output_schema": self.output_schema}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RenderedPrompt:
        return cls(**{k: v for k, v in data.items() if k != "ref"})

    def to_openai(self) -> dict[str, Any]:
        """Keyword arguments for an OpenAI-style chat completion call."""
        messages = self.messages if self.messages is not None else [
            {"role": "user", "content": self.text or ""}]
        body: dict[str, Any] = {"messages": messages, **self.parameters}
        if self.output_schema is not None:
            body["response_format"] = {"type": "json_schema", "json_schema": {
                "name": self.name.replace(".", "_"), "schema": self.output_schema}}
        return body


class Prompt:
    """A prompt version, checked and compiled once; `render` is the hot path.

    Args:
        spec: the prompt definition.
        name, version, version_id: which stored version this is (defaults for an
            unsaved spec).
        limits: render limits for templates that take the sandbox.
        fast: allow the fast path (False renders every template in the sandbox).
        examples: loads few-shot rows for a dataset reference (default:
            `llmops.datasets.read_rows` on the local workspace).
        delegate: render through this instead (a remote client rendering few-shot
            prompts on the server, which holds the datasets).

    Raises:
        TemplateSyntaxError, TemplateSecurityError, PayloadTooLarge: a template is bad.
        InvalidInput: a template uses a variable the spec does not declare.
    """

    def __init__(self, spec: PromptSpec, *, name: str = "prompt", version: int = 0,
                 version_id: str = "", limits: RenderLimits = DEFAULT_LIMITS,
                 fast: bool = True, examples: ExampleLoader | None = None,
                 delegate: Callable[[dict[str, Any]], RenderedPrompt] | None = None) -> None:
        self.spec = spec
        self.name = name
        self.version = version
        self.version_id = version_id
        self.content_hash = spec.content_hash
        self.limits = limits
        self._delegate = delegate
        self._messages: list[tuple[str, str | None, CompiledTemplate]] | None = None
        self._text: CompiledTemplate | None = None
        if spec.messages is not None:
            self._messages = [
                (m.role, m.name, compile_template(m.content, where=f"messages[{i}].content",
                                                  limits=limits, fast=fast))
                for i, m in enumerate(spec.messages)]
            templates = [t for _, _, t in self._messages]
        else:
            assert spec.text is not None
            self._text = compile_template(spec.text, where="text", limits=limits, fast=fast)
            templates = [self._text]
        self._few_shot: FewShotResolver | None = None
        if spec.few_shot is not None:
            self._few_shot = FewShotResolver(spec.few_shot, loader=examples or read_examples,
                                             limits=limits, fast=fast)
            if self._few_shot.query is not None:
                templates.append(self._few_shot.query)
        self._check_declared(templates)
        used = frozenset().union(*(t.variables for t in templates)) - {"examples"}
        self.checker = VariableChecker(spec.variables, used, prompt=self.label)
        self._parameters = spec.parameters.model_dump(exclude_none=True)
        self._sandboxed = self._few_shot is not None or not all(t.fast for t in templates)

    @property
    def label(self) -> str:
        return f"prompt {self.name}@{self.version}" if self.version else f"prompt {self.name}"

    @property
    def ref(self) -> str:
        return f"prompt:{self.name}@{self.version}"

    @property
    def variables(self) -> frozenset[str]:
        """The variable names a render takes."""
        return self.checker.names

    @property
    def fast(self) -> bool:
        """Whether every template of this prompt renders by the fast path."""
        return not self._sandboxed

    def _check_declared(self, templates: list[CompiledTemplate]) -> None:
        if not self.spec.variables:
            return
        allowed = set(self.spec.variables) | ({"examples"} if self.spec.few_shot else set())
        for template in templates:
            extra = sorted(template.variables - allowed)
            if extra:
                raise InvalidInput(
                    f"{template.where} uses {extra[0]!r}, which is not declared under "
                    f"`variables` (declared: {', '.join(sorted(self.spec.variables))})",
                    errors=[{"field": template.where, "message": f"undeclared {n!r}"}
                            for n in extra])

    def render(self, variables: Mapping[str, Any] | None = None, /,
               **kwargs: Any) -> RenderedPrompt:
        """Render with `variables` (a mapping) and/or keyword arguments.

        Raises:
            UndefinedVariable: a variable is missing (names it).
            ValidationFailed: a value does not match its schema (names the field), or an
                unknown variable.
            TemplateSecurityError, TemplateLimitExceeded, TemplateRenderError: the
                template failed in the sandbox (names where, and the line).
        """
        values = {**variables, **kwargs} if variables else kwargs
        self.checker.apply(values)
        if self._delegate is not None and self._few_shot is not None:
            return self._delegate(values)
        if not self._sandboxed:
            return self._finish(values, values, [], None)
        token = CURRENT_BUDGET.set(Budget(self.limits))
        try:
            example_ids: list[str] = []
            example_messages = None
            render_values = values
            if self._few_shot is not None:
                chosen = self._few_shot.choose(values)
                example_ids = [example_id(e) for e in chosen]
                render_values = {**values, "examples": [dict(e) for e in chosen]}
                if self._few_shot.spec.insert == "messages":
                    example_messages = self._few_shot.render_messages(chosen)
            return self._finish(values, render_values, example_ids, example_messages)
        finally:
            CURRENT_BUDGET.reset(token)

    def _finish(self, values: dict[str, Any], render_values: dict[str, Any],
                example_ids: list[str], example_messages: list[dict[str, str]] | None
                ) -> RenderedPrompt:
        messages = None
        text = None
        if self._messages is not None:
            messages = []
            for role, name, template in self._messages:
                if name is None:
                    messages.append({"role": role, "content": template.render(render_values)})
                else:
                    messages.append({"role": role, "content": template.render(render_values),
                                     "name": name})
            if example_messages:
                at = len(messages) - 1 if (
                    self._few_shot and self._few_shot.spec.position == "before_last") else (
                    next((i for i, m in enumerate(messages) if m["role"] != "system"),
                         len(messages)))
                messages[at:at] = example_messages
        else:
            assert self._text is not None
            text = self._text.render(render_values)
        return RenderedPrompt(
            self.name, self.version, self.version_id, self.content_hash, messages, text,
            dict(self._parameters), values, example_ids,
            self._few_shot.dataset if self._few_shot else None, self.spec.output_schema)
