"""Object references and names.

One syntax everywhere: ``KIND:NAME[@SELECTOR][#SPLIT]``. SELECTOR is a version number,
an alias or label, or a content-hash prefix (``sha256:9f2c``). Objects addressed by id
(runs, traces) use ``KIND:ID``. References are resolved once, at the edge.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from llmops.errors import InvalidInput

NAME_PATTERN = r"[a-z0-9][a-z0-9._-]{0,63}"
_NAME = re.compile(NAME_PATTERN)
KINDS = frozenset(
    {"run", "experiment", "dataset", "prompt", "model", "deployment", "trace", "feedback",
     "artifact", "key", "user", "eval"}
)
# Kinds whose references carry an id rather than a name.
ID_KINDS = frozenset({"run", "trace", "feedback", "artifact", "key", "eval"})
_ID = re.compile(r"[0-9A-Za-z]{1,64}")
_SELECTOR = re.compile(r"(?:\d+|sha256:[0-9a-f]{4,64}|[a-z0-9][a-z0-9._-]{0,63})")
_SPLIT = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")


def check_name(name: str, *, what: str = "name") -> str:
    """Return `name` if it is a valid llmops name, else raise InvalidInput.

    Names are lower-case: ``[a-z0-9][a-z0-9._-]{0,63}``.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(
            f"invalid {what} {name!r}: use 1-64 characters from a-z, 0-9, '.', '_' and '-', "
            "starting with a letter or digit",
            errors=[{"field": what, "message": "must match " + NAME_PATTERN}],
        )
    return name


@dataclass(frozen=True, slots=True)
class Ref:
    """A parsed reference. `name` holds the id for id-addressed kinds."""

    kind: str
    name: str
    selector: str | None = None
    split: str | None = None

    @property
    def version(self) -> int | None:
        """The selector as a version number, when it is one."""
        return int(self.selector) if self.selector and self.selector.isdigit() else None

    def __str__(self) -> str:
        text = f"{self.kind}:{self.name}"
        if self.selector:
            text += f"@{self.selector}"
        if self.split:
            text += f"#{self.split}"
        return text


def parse_ref(text: str, *, default_kind: str | None = None) -> Ref:
    """Parse ``KIND:NAME[@SELECTOR][#SPLIT]``; a bare NAME takes `default_kind`.

    Raises:
        InvalidInput: naming the part that is wrong.
    """
    if not isinstance(text, str) or not text or len(text) > 300:
        raise InvalidInput(f"invalid reference {text!r}")
    body, hash_, split = text.partition("#")
    kind, colon, rest = body.partition(":")
    if not colon or kind not in KINDS:
        if default_kind is None:
            raise InvalidInput(
                f"invalid reference {text!r}: expected KIND:NAME[@SELECTOR] with KIND one of "
                + ", ".join(sorted(KINDS))
            )
        kind, rest = default_kind, body
    name, at, selector = rest.partition("@")
    if kind in ID_KINDS:
        if not _ID.fullmatch(name) or at:
            raise InvalidInput(f"invalid reference {text!r}: expected {kind}:ID")
    else:
        check_name(name, what=f"{kind} name")
    if at and not _SELECTOR.fullmatch(selector):
        raise InvalidInput(
            f"invalid selector {selector!r} in {text!r}: use a version number, an alias or "
            "sha256:HEXPREFIX"
        )
    if hash_ and not _SPLIT.fullmatch(split):
        raise InvalidInput(f"invalid split {split!r} in {text!r}")
    return Ref(kind=kind, name=name, selector=selector or None, split=split or None)
