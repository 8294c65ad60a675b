"""Checking the variables of a render against the prompt's schema, defaults applied.

Validation runs on every render, so it has a fast path too: a variable whose schema is
only a simple ``type`` (string, integer, number, boolean, array, object, null) is checked
by the exact Python type of its value; anything else, and any value the fast check does
not accept outright, goes to jsonschema (Draft 2020-12), which has the last word and
writes the error message. Arrays may be lists or tuples.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.validators import extend

from llmops.errors import ValidationFailed
from llmops.prompts.errors import UndefinedVariable

_TYPE_CHECKER = Draft202012Validator.TYPE_CHECKER.redefine(
    "array", lambda _checker, value: isinstance(value, list | tuple))
Validator = extend(Draft202012Validator, type_checker=_TYPE_CHECKER)

_FAST_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "array": (list, tuple), "object": (dict,), "null": (type(None),),
}
# Schema keys that do not constrain a value: a schema with only these and a simple type
# is checked by the fast path.
_ANNOTATIONS = frozenset({"type", "description", "title", "default", "examples", "deprecated",
                          "readOnly", "writeOnly", "$comment"})
_IMMUTABLE = (str, int, float, bool, type(None))


class VariableChecker:
    """Validates one render's variables and fills in defaults.

    Args:
        schemas: name -> JSON Schema (the spec's `variables`, with llmops's
            ``required: false`` still in it). Empty when the prompt declares none.
        used: the names its templates read; when `schemas` is empty they become the
            variables, each required and of any type.
        prompt: how errors name the prompt, e.g. ``travel-system@3``.
    """

    __slots__ = ("_defaults", "_fast", "_validators", "names", "prompt", "required")

    def __init__(self, schemas: dict[str, dict[str, Any]], used: Iterable[str] = (),
                 prompt: str = "the prompt") -> None:
        self.prompt = prompt
        if not schemas:
            schemas = {name: {} for name in sorted(used)}
        self.names = frozenset(schemas)
        self.required = frozenset(
            n for n, s in schemas.items() if s.get("required", True) and "default" not in s)
        self._defaults = tuple((n, s["default"], not isinstance(s["default"], _IMMUTABLE))
                               for n, s in schemas.items() if "default" in s)
        self._fast: dict[str, tuple[type, ...] | None] = {}
        self._validators: dict[str, Any] = {}
        for name, schema in schemas.items():
            body = {k: v for k, v in schema.items() if k != "required"}
            kind = body.get("type")
            kinds = [kind] if isinstance(kind, str) else kind
            if not body:
                self._fast[name] = None  # any value
            elif set(body) <= _ANNOTATIONS and isinstance(kinds, list) and all(
                    k in _FAST_TYPES for k in kinds):
                self._fast[name] = tuple(t for k in kinds for t in _FAST_TYPES[k])
            self._validators[name] = Validator(body)

    def apply(self, values: dict[str, Any]) -> dict[str, Any]:
        """Check `values` in place (defaults added) and return it.

        Raises:
            UndefinedVariable: a required variable is missing (names it).
            ValidationFailed: an unknown variable, or a value of the wrong type (names the
                field and says what was expected).
        """
        fast = self._fast
        for name, value in values.items():
            types = fast.get(name, ())
            if types is None or (types and type(value) in types):
                continue
            self._check_slow(name, value)
        if not self.required.issubset(values):
            missing = sorted(self.required.difference(values))
            raise UndefinedVariable(
                f"missing variable {missing[0]!r}: {self.prompt} needs "
                + ", ".join(sorted(self.required)),
                errors=[{"field": f"variables.{n}", "message": "required"} for n in missing])
        for name, default, mutable in self._defaults:
            if name not in values:
                values[name] = copy.deepcopy(default) if mutable else default
        return values

    def _check_slow(self, name: str, value: Any) -> None:
        validator = self._validators.get(name)
        if validator is None:
            raise ValidationFailed(
                f"unknown variable {name!r}: {self.prompt} takes "
                + (", ".join(sorted(self.names)) or "no variables"),
                errors=[{"field": f"variables.{name}", "message": "not a variable of this "
                         "prompt"}])
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
        if errors:
            error = errors[0]
            field = ".".join(["variables", name, *(str(p) for p in error.absolute_path)])
            raise ValidationFailed(
                f"variable {field.removeprefix('variables.')!r}: {error.message}",
                errors=[{"field": ".".join(["variables", name,
                                            *(str(p) for p in e.absolute_path)]),
                         "message": e.message} for e in errors])
