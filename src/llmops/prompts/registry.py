"""The prompt registry on the metadata store (the embedded default, and the server).

Versions are immutable and numbered per prompt from 1; creating content identical to an
existing version returns that version. Labels are movable pointers with history (see
`llmops.labels`). Every change is audited in the same transaction.
"""

from __future__ import annotations

import difflib
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, RowMapping, func, insert, select, update

from llmops import labels as label_store
from llmops.auth import audit
from llmops.clock import now_ms
from llmops.errors import IntegrityError, InvalidInput, NotFound
from llmops.ids import new_id
from llmops.prompts.backend import parse_prompt_ref
from llmops.prompts.diff import diff_versions
from llmops.prompts.fewshot import read_examples
from llmops.prompts.models import (
    CreatedPromptVersion,
    LabelChange,
    PromptDiff,
    PromptLabelEvent,
    PromptSummary,
    PromptVersion,
)
from llmops.prompts.prompt import Prompt, RenderedPrompt
from llmops.prompts.spec import PromptSpec, content_hash, parse_spec
from llmops.refs import check_name
from llmops.store import upsert_insert
from llmops.store.tables import prompt_versions, prompts
from llmops.workspace import Workspace

KIND = "prompt"
_HASH_SELECTOR = "sha256:"
_COMPILED_MAX = 256
_compiled: OrderedDict[tuple[str, str], Prompt] = OrderedDict()
_compiled_lock = threading.Lock()


def _candidates(names: Sequence[str], wanted: str) -> str:
    close = difflib.get_close_matches(wanted, names, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
    return hint + (f" (prompts: {shown})" if names else " (there are no prompts yet)")


class LocalPromptRegistry:
    """Create, find, label, diff and render prompt versions in the workspace's store."""

    def __init__(self, workspace: Workspace, *, actor: str | None = None) -> None:
        self.workspace = workspace
        self.store = workspace.store
        self.actor = actor or audit.local_actor()

    # -- lookups ------------------------------------------------------------------------
    def _prompt(self, conn: Connection, name: str, *, lock: bool = False) -> RowMapping:
        check_name(name, what="prompt name")
        query = select(prompts).where(prompts.c.name == name)
        row = conn.execute(query.with_for_update() if lock else query).mappings().first()
        if row is None:
            names = list(conn.execute(select(prompts.c.name).order_by(prompts.c.name)).scalars())
            raise NotFound(f"no prompt {name!r}{_candidates(names, name)}")
        return row

    def _labels_by_target(self, conn: Connection, prompt_id: str) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for label in label_store.list_labels(conn, KIND, [prompt_id]):
            found.setdefault(label.target_id, []).append(label.label)
        return found

    def _choices(self, conn: Connection, prompt: RowMapping) -> str:
        last = conn.execute(select(func.max(prompt_versions.c.version)).where(
            prompt_versions.c.prompt_id == prompt["id"])).scalar() or 0
        numbers = {r.id: r.version for r in conn.execute(
            select(prompt_versions.c.id, prompt_versions.c.version).where(
                prompt_versions.c.prompt_id == prompt["id"]))}
        shown = [f"{label.label} (-> {numbers.get(label.target_id)})"
                 for label in label_store.list_labels(conn, KIND, [prompt["id"]])]
        return (f"it has versions 1-{last}" + (f" and labels {', '.join(shown)}"
                                                if shown else " and no labels"))

    def _version_row(self, conn: Connection, prompt: RowMapping, selector: str | None
                     ) -> RowMapping:
        v = prompt_versions
        query = select(v).where(v.c.prompt_id == prompt["id"])
        name = prompt["name"]
        if selector is None or selector == "latest":
            row = conn.execute(query.order_by(v.c.version.desc()).limit(1)).mappings().first()
            what = "versions"
        elif selector.isdigit():
            row = conn.execute(query.where(v.c.version == int(selector))).mappings().first()
            what = f"version {selector}"
        elif selector.startswith(_HASH_SELECTOR):
            found = conn.execute(query.where(v.c.content_hash.startswith(selector))
                                 .order_by(v.c.version).limit(5)).mappings().all()
            if len(found) > 1:
                raise InvalidInput(
                    f"hash prefix {selector!r} of prompt {name!r} is ambiguous: it matches "
                    f"versions {', '.join(str(r['version']) for r in found)}; give more digits")
            row = found[0] if found else None
            what = f"version with hash {selector}"
        else:
            check_name(selector, what="label")
            target = label_store.get_target(conn, KIND, prompt["id"], selector)
            row = None if target is None else conn.execute(
                query.where(v.c.id == target)).mappings().first()
            what = f"label {selector!r}"
        if row is None:
            raise NotFound(f"prompt {name!r} has no {what}; {self._choices(conn, prompt)}")
        return row

    def _to_version(self, row: RowMapping, name: str, labels: dict[str, list[str]]
                    ) -> PromptVersion:
        if content_hash(row["spec"]) != row["content_hash"]:
            raise IntegrityError(f"prompt {name}@{row['version']}: the stored spec does not "
                                 f"match its hash {row['content_hash']}")
        return PromptVersion(
            id=row["id"], name=name, version=row["version"], content_hash=row["content_hash"],
            spec=PromptSpec.model_validate_json(row["spec"]),
            labels=sorted(labels.get(row["id"], [])), created_at=row["created_at"],
            created_by=row["created_by"])

    def _numbers(self, conn: Connection, ids: set[str | None]) -> dict[str | None, int]:
        wanted = [i for i in ids if i]
        if not wanted:
            return {}
        return {r.id: r.version for r in conn.execute(
            select(prompt_versions.c.id, prompt_versions.c.version).where(
                prompt_versions.c.id.in_(wanted)))}

    # -- reading ------------------------------------------------------------------------
    def get(self, ref: str) -> PromptVersion:
        """The version `ref` selects (the newest when it selects none)."""
        name, selector = parse_prompt_ref(ref)
        with self.store.read() as conn:
            prompt = self._prompt(conn, name)
            row = self._version_row(conn, prompt, selector)
            return self._to_version(row, name, self._labels_by_target(conn, prompt["id"]))

    def versions(self, name: str) -> list[PromptVersion]:
        """Every version of `name`, oldest first, with the labels on each."""
        with self.store.read() as conn:
            prompt = self._prompt(conn, name)
            rows = conn.execute(select(prompt_versions).where(
                prompt_versions.c.prompt_id == prompt["id"]).order_by(
                prompt_versions.c.version)).mappings().all()
            labels = self._labels_by_target(conn, prompt["id"])
        return [self._to_version(r, name, labels) for r in rows]

    def list_prompts(self) -> list[PromptSummary]:
        """Every prompt, by name, with its newest version and its labels."""
        v = prompt_versions
        query = (select(prompts, func.max(v.c.version).label("latest"),
                        func.count(v.c.id).label("count"),
                        func.max(v.c.created_at).label("updated"))
                 .join(v, v.c.prompt_id == prompts.c.id)
                 .group_by(*prompts.c).order_by(prompts.c.name))
        with self.store.read() as conn:
            rows = conn.execute(query).mappings().all()
            all_labels = label_store.list_labels(conn, KIND)
            numbers = self._numbers(conn, {label.target_id for label in all_labels})
        by_owner: dict[str, dict[str, int]] = {}
        for label in all_labels:
            by_owner.setdefault(label.owner_id, {})[label.label] = numbers[label.target_id]
        return [PromptSummary(id=r["id"], name=r["name"], description=r["description"],
                              latest_version=r["latest"], versions=r["count"],
                              labels=by_owner.get(r["id"], {}), created_at=r["created_at"],
                              updated_at=r["updated"]) for r in rows]

    def label_history(self, name: str, label: str | None = None) -> list[PromptLabelEvent]:
        """Moves of one label, or of all labels of `name`, newest first."""
        with self.store.read() as conn:
            prompt = self._prompt(conn, name)
            events = label_store.history(conn, KIND, prompt["id"], label)
            numbers = self._numbers(conn, {e.target_id for e in events}
                                    | {e.previous_id for e in events})
        return [PromptLabelEvent(label=e.label, version=numbers.get(e.target_id),
                                 previous_version=numbers.get(e.previous_id), at=e.at,
                                 actor=e.actor) for e in events]

    def diff(self, a: str, b: str) -> PromptDiff:
        """Field-by-field and unified differences from version `a` to version `b`."""
        return diff_versions(self.get(a), self.get(b))

    # -- writing ------------------------------------------------------------------------
    def create(self, name: str, spec: PromptSpec | Mapping[str, Any] | str, *,
               label: str | None = None, source: str = "prompt") -> CreatedPromptVersion:
        """Store a new version of `name` (creating the prompt on first use).

        Identical content returns the existing version (``created`` is False). With
        `label`, the label is moved to the version either way.

        Raises:
            InvalidInput, ValidationFailed, PayloadTooLarge, TemplateSyntaxError,
            TemplateSecurityError: the name, label or spec is bad; nothing is stored.
        """
        check_name(name, what="prompt name")
        if label is not None:
            label_store.check_label(label)
        spec = parse_spec(spec, source=source, name=name)
        Prompt(spec, name=name)  # every template parses, passes the checks and compiles
        canonical = spec.canonical_json()
        digest = content_hash(canonical)
        actor = self.actor

        def write(conn: Connection) -> tuple[str, bool]:
            now = now_ms()
            conn.execute(upsert_insert(conn, prompts).on_conflict_do_nothing(
                index_elements=[prompts.c.name]),
                         {"id": new_id(), "name": name, "description": spec.description,
                          "created_at": now, "created_by": actor})
            prompt = self._prompt(conn, name, lock=True)
            v = prompt_versions
            version_id = conn.execute(select(v.c.id).where(
                v.c.prompt_id == prompt["id"], v.c.content_hash == digest)).scalar()
            created = version_id is None
            if version_id is None:
                version_id = new_id()
                number = (conn.execute(select(func.max(v.c.version)).where(
                    v.c.prompt_id == prompt["id"])).scalar() or 0) + 1
                conn.execute(insert(v), {"id": version_id, "prompt_id": prompt["id"],
                                         "version": number, "content_hash": digest,
                                         "spec": canonical, "created_at": now,
                                         "created_by": actor})
                conn.execute(update(prompts).where(prompts.c.id == prompt["id"]).values(
                    description=spec.description))
                audit.record(conn, actor, "prompt.create", KIND, name,
                             {"version": number, "content_hash": digest})
            if label is not None:
                self._move(conn, prompt, label, version_id)
            return version_id, created

        version_id, created = self.store.write(write)
        with self.store.read() as conn:
            prompt = self._prompt(conn, name)
            row = conn.execute(select(prompt_versions).where(
                prompt_versions.c.id == version_id)).mappings().one()
            found = self._to_version(row, name, self._labels_by_target(conn, prompt["id"]))
        return CreatedPromptVersion(**dict(found), created=created)

    def _move(self, conn: Connection, prompt: RowMapping, label: str, version_id: str
              ) -> label_store.LabelEvent | None:
        event = label_store.set_label(conn, KIND, prompt["id"], label, version_id,
                                      actor=self.actor)
        if event is not None:
            numbers = self._numbers(conn, {event.target_id, event.previous_id})
            audit.record(conn, self.actor, "prompt.label", KIND, prompt["name"],
                         {"label": label, "version": numbers.get(event.target_id),
                          "previous": numbers.get(event.previous_id)})
        return event

    def _change(self, conn: Connection, name: str, label: str,
                event: label_store.LabelEvent | None, current: str | None) -> LabelChange:
        numbers = self._numbers(conn, {current} | ({event.previous_id} if event else set()))
        return LabelChange(name=name, label=label, version=numbers.get(current),
                           previous_version=numbers.get(event.previous_id) if event else
                           numbers.get(current), changed=event is not None)

    def set_label(self, name: str, selector: str, label: str) -> LabelChange:
        """Point `label` of `name` at the version `selector` picks (a number, another
        label, ``latest`` or a hash prefix). Setting it where it already points changes
        nothing."""
        label_store.check_label(label)

        def write(conn: Connection) -> LabelChange:
            prompt = self._prompt(conn, name, lock=True)
            target = self._version_row(conn, prompt, selector)["id"]
            event = self._move(conn, prompt, label, target)
            return self._change(conn, name, label, event, target)

        return self.store.write(write)

    def _require_label(self, conn: Connection, prompt: RowMapping, label: str) -> str:
        check_name(label, what="label")
        target = label_store.get_target(conn, KIND, prompt["id"], label)
        if target is None:
            raise NotFound(f"prompt {prompt['name']!r} has no label {label!r}; "
                           f"{self._choices(conn, prompt)}")
        return target

    def rollback(self, name: str, label: str) -> LabelChange:
        """Move `label` back to where it pointed before its last move.

        Raises:
            NotFound: no such prompt or label.
            Conflict: the label has no earlier target.
        """

        def write(conn: Connection) -> LabelChange:
            prompt = self._prompt(conn, name, lock=True)
            self._require_label(conn, prompt, label)
            event = label_store.rollback_label(conn, KIND, prompt["id"], label,
                                               actor=self.actor)
            numbers = self._numbers(conn, {event.target_id, event.previous_id})
            audit.record(conn, self.actor, "prompt.rollback", KIND, name,
                         {"label": label, "version": numbers.get(event.target_id),
                          "previous": numbers.get(event.previous_id)})
            return self._change(conn, name, label, event, event.target_id)

        return self.store.write(write)

    def remove_label(self, name: str, label: str) -> LabelChange:
        """Remove `label` from `name`; its history stays."""

        def write(conn: Connection) -> LabelChange:
            prompt = self._prompt(conn, name, lock=True)
            self._require_label(conn, prompt, label)
            event = label_store.remove_label(conn, KIND, prompt["id"], label, actor=self.actor)
            previous = self._numbers(conn, {event.previous_id}).get(event.previous_id)
            audit.record(conn, self.actor, "prompt.unlabel", KIND, name,
                         {"label": label, "previous": previous})
            return LabelChange(name=name, label=label, version=None,
                               previous_version=previous, changed=True)

        return self.store.write(write)

    # -- rendering ----------------------------------------------------------------------
    def compiled(self, ref: str) -> Prompt:
        """The version `ref` selects, compiled (compiled versions are kept, LRU)."""
        version = self.get(ref)
        key = (self.store.url, version.id)
        with _compiled_lock:
            found = _compiled.get(key)
            if found is not None:
                _compiled.move_to_end(key)
                return found
        workspace = self.workspace
        prompt = Prompt(version.spec, name=version.name, version=version.version,
                        version_id=version.id,
                        examples=lambda dataset: read_examples(dataset, workspace))
        with _compiled_lock:
            _compiled[key] = prompt
            while len(_compiled) > _COMPILED_MAX:
                _compiled.popitem(last=False)
        return prompt

    def render(self, ref: str, variables: Mapping[str, Any]) -> RenderedPrompt:
        """Render the version `ref` selects with `variables`."""
        return self.compiled(ref).render(dict(variables))
