"""The prompt definition: its model, its YAML file format, and its content hash.

A prompt version is a `PromptSpec`. Its content hash is the sha256 of its canonical JSON:
the spec with every default left out, keys sorted, no whitespace, UTF-8. Writing the
same prompt another way (a default spelled out, keys in another order, ``city: string``
for ``city: {type: string}``) gives the same hash, hence the same version.
docs/prompts.md documents the file format.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any, Literal

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from jsonschema.exceptions import ValidationError as SchemaValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from llmops.errors import InvalidInput, PayloadTooLarge, ValidationFailed
from llmops.prompts.sandbox import MAX_TEMPLATE_BYTES

MAX_SPEC_BYTES = MAX_TEMPLATE_BYTES
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
# Names a template gets from the sandbox or from Jinja itself; not usable as variables.
RESERVED_VARIABLES = frozenset({"examples", "range", "dict", "namespace", "cycler", "joiner",
                                "self", "loop", "caller", "varargs", "kwargs", "true",
                                "false", "none", "True", "False", "None"})
SIMPLE_TYPES = ("string", "integer", "number", "boolean", "array", "object", "null")


class Message(BaseModel):
    """One chat message; `content` is a Jinja2 template."""

    model_config = ConfigDict(extra="forbid")

    role: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$",
                      description="system, user, assistant, tool, developer, ...")
    content: str
    name: str | None = Field(default=None, max_length=64,
                             description="optional participant name (OpenAI's `name`)")


class Parameters(BaseModel):
    """Model parameters sent with the rendered prompt."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(default=None, max_length=256)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    stop: list[str] | None = Field(default=None, max_length=16)
    seed: int | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)


def _default_example_messages() -> list[Message]:
    return [Message(role="user", content="{{ input }}"),
            Message(role="assistant", content="{{ output }}")]


class FewShot(BaseModel):
    """Few-shot examples drawn from a dataset version, resolved at each render."""

    model_config = ConfigDict(extra="forbid")

    dataset: str = Field(description="dataset reference, e.g. dataset:travel-qa@3#train")
    mode: Literal["fixed", "random", "similar"]
    ids: list[str] = Field(default_factory=list, max_length=100,
                           description="fixed: the row ids, in order")
    k: int = Field(default=3, ge=1, le=100, description="random, similar: how many")
    seed: int = Field(default=0, description="random: the seed")
    input: str | list[str] = Field(default="input",
                                   description="the example field(s) holding the input")
    output: str | list[str] = Field(default="output",
                                    description="the example field(s) holding the output")
    query: str | None = Field(
        default=None, description="similar: a template giving the current input, "
        "e.g. '{{ question }}'")
    similarity: Literal["tfidf", "embedding", "auto"] = "tfidf"
    embedding_model: str | None = None
    insert: Literal["messages", "variable"] = Field(
        default="messages", description="messages: add example messages to the chat; "
        "variable: only pass them to the templates as `examples`")
    position: Literal["after_system", "before_last"] = "after_system"
    messages: list[Message] = Field(
        default_factory=_default_example_messages, min_length=1,
        description="how one example becomes messages; templates see `input`, `output` "
        "and `example` (the whole row)")

    @field_validator("dataset")
    @classmethod
    def _check_dataset(cls, value: str) -> str:
        from llmops.refs import parse_ref

        try:
            ref = parse_ref(value, default_kind="dataset")
        except InvalidInput as exc:
            raise ValueError(exc.detail) from None
        if ref.kind != "dataset":
            raise ValueError(f"expected a dataset reference, got a {ref.kind} reference")
        return str(ref)

    @field_validator("input", "output")
    @classmethod
    def _check_fields(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and not value:
            raise ValueError("name at least one field")
        return value

    @model_validator(mode="after")
    def _check_mode(self) -> FewShot:
        if self.mode == "fixed" and not self.ids:
            raise ValueError("mode 'fixed' needs `ids`: the example row ids, in order")
        if self.mode != "fixed" and self.ids:
            raise ValueError(f"`ids` is only for mode 'fixed', not {self.mode!r}")
        if self.mode == "similar" and not self.query:
            raise ValueError("mode 'similar' needs `query`: a template giving the current "
                             "input, e.g. '{{ question }}'")
        if self.similarity == "embedding" and not self.embedding_model:
            raise ValueError("similarity 'embedding' needs `embedding_model`")
        return self


class PromptSpec(BaseModel):
    """One prompt version: a chat or text template, its variables, parameters,
    few-shot block and output schema."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(default=None, max_length=4096)
    messages: list[Message] | None = Field(default=None, min_length=1, max_length=1000)
    text: str | None = None
    variables: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="name -> JSON Schema; `required: false` makes one optional")
    parameters: Parameters = Field(default_factory=Parameters)
    few_shot: FewShot | None = None
    output_schema: dict[str, Any] | None = None

    @field_validator("variables", mode="before")
    @classmethod
    def _normalise_variables(cls, value: Any) -> Any:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            return value
        out: dict[str, Any] = {}
        for name, schema in value.items():
            if schema is None:
                schema = {}
            elif isinstance(schema, str):
                schema = {"type": schema}
            elif isinstance(schema, Mapping):
                schema = dict(schema)
                required = schema.pop("required", True)
                if not isinstance(required, bool):
                    raise ValueError(f"variable {name!r}: `required` must be true or false "
                                     "(it is llmops's shorthand, not JSON Schema's list)")
                if not required and "default" not in schema:
                    schema["required"] = False
            out[name] = schema
        return out

    @field_validator("variables")
    @classmethod
    def _check_variables(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for name, schema in value.items():
            if not _IDENTIFIER.fullmatch(name) or name in RESERVED_VARIABLES:
                raise ValueError(
                    f"invalid variable name {name!r}: use a letter then letters, digits or "
                    "'_' (up to 64), and none of " + ", ".join(sorted(RESERVED_VARIABLES)))
            body = {k: v for k, v in schema.items() if k != "required"}
            try:
                Draft202012Validator.check_schema(body)
            except SchemaError as exc:
                raise ValueError(f"variable {name!r}: not a valid JSON Schema: {exc.message}"
                                 ) from None
            if "default" in body:
                try:
                    Draft202012Validator(body).validate(body["default"])
                except SchemaValidationError as exc:
                    raise ValueError(f"variable {name!r}: the default does not match its "
                                     f"schema: {exc.message}") from None
        return value

    @field_validator("output_schema")
    @classmethod
    def _check_output_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            try:
                Draft202012Validator.check_schema(value)
            except SchemaError as exc:
                raise ValueError(f"not a valid JSON Schema: {exc.message}") from None
        return value

    @model_validator(mode="after")
    def _check_template(self) -> PromptSpec:
        if (self.messages is None) == (self.text is None):
            raise ValueError("give exactly one of `messages` (a chat template) and `text` "
                             "(a plain text template)")
        if self.few_shot and self.text is not None and self.few_shot.insert == "messages":
            raise ValueError("a text template takes few-shot examples as the `examples` "
                             "variable: set few_shot.insert to 'variable'")
        return self

    # -- canonical form ---------------------------------------------------------------
    def canonical_dict(self) -> dict[str, Any]:
        """The spec as plain data, defaults left out: what is hashed and stored."""
        return self.model_dump(mode="json", exclude_defaults=True)

    def canonical_json(self) -> str:
        return canonical_json(self.canonical_dict())

    @property
    def content_hash(self) -> str:
        return content_hash(self.canonical_json())

    def templates(self) -> list[tuple[str, str]]:
        """Every template of the spec, as (where, source)."""
        found = [(f"messages[{i}].content", m.content) for i, m in enumerate(self.messages or [])]
        if self.text is not None:
            found.append(("text", self.text))
        if self.few_shot:
            if self.few_shot.query:
                found.append(("few_shot.query", self.few_shot.query))
            found += [(f"few_shot.messages[{i}].content", m.content)
                      for i, m in enumerate(self.few_shot.messages)]
        return found

    def to_yaml(self) -> str:
        """The spec as the YAML file `llmops prompts create -f` reads back."""
        data = self.canonical_dict()
        order = ["description", "messages", "text", "variables", "parameters", "few_shot",
                 "output_schema"]
        return yaml.dump({k: data[k] for k in order if k in data}, Dumper=_Dumper,
                         sort_keys=False, allow_unicode=True, width=100)


def canonical_json(data: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 text (not ASCII escapes)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(canonical: str) -> str:
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


# -- YAML -------------------------------------------------------------------------------
class _Loader(yaml.SafeLoader):
    """Safe YAML without aliases (no billion laughs) and without implicit timestamps
    (a date must stay the string it was written as, for the JSON it becomes)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in prompt files", mark)
        return super().compose_node(parent, index)


_Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class _Dumper(yaml.SafeDumper):
    pass


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_representer)


def _node_line(node: Any, path: tuple[Any, ...]) -> int | None:
    """The 1-based line of the YAML node at `path`, or of its nearest parent."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if k.value == str(part)), None)
            if found is None:
                found = next((k for k, _ in node.value if k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and (
                part < len(node.value)):
            found = node.value[part]
        else:
            found = None
        if found is None:
            break
        node = found
        line = node.start_mark.line + 1
    return line


def _check_duplicate_keys(node: Any, source: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                continue  # an unhashable key: construction reports it with its line
            if key.value in seen:
                raise InvalidInput(
                    f"{source} line {key.start_mark.line + 1}: duplicate key {key.value!r}",
                    errors=[{"line": key.start_mark.line + 1, "message": "duplicate key"}])
            seen.add(key.value)
            _check_duplicate_keys(value, source)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_duplicate_keys(item, source)


def load_yaml(text: str, *, source: str = "prompt.yaml") -> tuple[Any, Any]:
    """Parse YAML (or JSON) text; returns the data and the node tree (for line numbers).

    Raises:
        PayloadTooLarge: over 1 MB.
        InvalidInput: not valid YAML, naming the line and column.
    """
    size = len(text.encode())
    if size > MAX_SPEC_BYTES:
        raise PayloadTooLarge(f"{source} is {size:,} bytes, over the limit of 1 MB "
                              f"({MAX_SPEC_BYTES:,} bytes)")
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is not None:
                _check_duplicate_keys(node, source)
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        if "unhashable key" in problem:
            problem += ' (a value that starts with "{{" must be quoted: "{{ name }}")'
        raise InvalidInput(f"{source}{where}: invalid YAML: {problem}",
                           errors=[{"line": mark.line + 1 if mark else None,
                                    "column": mark.column + 1 if mark else None,
                                    "message": problem}]) from None
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{source}: invalid YAML: {exc}") from None
    return data, node


def parse_spec(value: PromptSpec | Mapping[str, Any] | str, *, source: str = "prompt",
               name: str | None = None) -> PromptSpec:
    """A `PromptSpec` from a spec, a mapping, or YAML/JSON text.

    A top-level `name`, when present, must equal `name`.

    Raises:
        ValidationFailed: a field is wrong; names it, and its line for text input.
        InvalidInput: the text is not valid YAML (names the line).
        PayloadTooLarge: the text is over 1 MB.
    """
    if isinstance(value, PromptSpec):
        return value
    node = None
    data: Any = value
    if isinstance(value, str):
        data, node = load_yaml(value, source=source)
    if not isinstance(data, Mapping):
        raise ValidationFailed(f"{source}: a prompt must be a mapping with `messages` or "
                               f"`text`, not {type(data).__name__}",
                               errors=[{"field": "", "message": "must be a mapping"}])
    data = dict(data)
    given = data.pop("name", None)
    if given is not None and name is not None and given != name:
        raise InvalidInput(f"{source} names the prompt {given!r}, not {name!r}",
                           errors=[{"field": "name", "message": f"must be {name!r}"}])
    try:
        json.dumps(data, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(f"{source}: values must be JSON data (strings, numbers, "
                               f"booleans, null, lists, mappings): {exc}") from None
    try:
        spec = PromptSpec.model_validate(data)
    except ValidationError as exc:
        raise _spec_error(exc, source, node) from None
    size = len(spec.canonical_json().encode())
    if size > MAX_SPEC_BYTES:
        raise PayloadTooLarge(f"{source}: the prompt is {size:,} bytes, over the limit of "
                              f"1 MB ({MAX_SPEC_BYTES:,} bytes)")
    return spec


_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "dict", "list"})


def _spec_error(exc: ValidationError, source: str, node: Any) -> ValidationFailed:
    errors = []
    for error in exc.errors():
        path = tuple(p for p in error["loc"]
                     if not (isinstance(p, str) and ("[" in p or p in _TYPE_TAGS)))
        field = ".".join(str(p) for p in path) or "(prompt)"
        message = error["msg"].removeprefix("Value error, ")
        entry: dict[str, Any] = {"field": field, "message": message}
        line = _node_line(node, path) if node is not None else None
        if line:
            entry["line"] = line
        errors.append(entry)
    first = errors[0]
    where = f"{source} line {first['line']}" if "line" in first else source
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return ValidationFailed(f"{where}: {first['field']}: {first['message']}{more}",
                            errors=errors)
