"""Few-shot examples: which rows of a dataset version go into a render.

`select_examples` is the selection itself, a pure function over a list of example rows
(each a dict with a stable ``_id``): fixed ids, a seeded random choice of k, or the k
most similar to the current input (TF-IDF cosine by default; sentence embeddings when
asked for and installed). `FewShotResolver` binds it to a prompt's few-shot block: it
loads the rows once through `llmops.datasets.read_rows`, keeps the similarity index,
and turns the chosen rows into messages.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import json
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from llmops.errors import InvalidInput, NotFound
from llmops.prompts.budget import RenderLimits
from llmops.prompts.spec import FewShot
from llmops.prompts.template import CompiledTemplate, compile_template

Example = Mapping[str, Any]
# Texts in, one vector per text out (a 2-D array-like). The serving module's engines
# provide `embed`; tests pass a fake.
Embedder = Callable[[Sequence[str]], Any]
# A dataset reference in; the reference resolved to an immutable version (for lineage)
# and its rows out.
ExampleLoader = Callable[[str], tuple[str, list[dict[str, Any]]]]


def example_id(example: Example) -> str:
    try:
        return str(example["_id"])
    except KeyError:
        raise InvalidInput("a few-shot example has no '_id' (the row id datasets give "
                           "every row)") from None


def example_text(example: Example, fields: str | Sequence[str]) -> str:
    """The text of `fields` of one example: the value, or ``field: value`` lines."""
    names = [fields] if isinstance(fields, str) else list(fields)
    parts = []
    for name in names:
        if name not in example:
            shown = ", ".join(sorted(k for k in example if k != "_id"))
            raise InvalidInput(
                f"few-shot example {example.get('_id')!r} has no field {name!r}; "
                f"its fields: {shown}",
                errors=[{"field": "few_shot", "message": f"no field {name!r}"}])
        value = example[name]
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        parts.append(text if isinstance(fields, str) else f"{name}: {text}")
    return "\n".join(parts)


class SimilarityIndex:
    """Cosine similarity of a query to each example's input text."""

    def __init__(self, texts: Sequence[str], *, embed: Embedder | None = None) -> None:
        import numpy as np

        self.method: Literal["tfidf", "embedding"] = "embedding" if embed else "tfidf"
        self._embed = embed
        self._size = len(texts)
        self._vectorizer: Any = None
        self._matrix: Any = None
        if embed is not None:
            self._matrix = _unit_rows(np.asarray(embed(list(texts)), dtype=float))
        elif texts:
            from sklearn.feature_extraction.text import TfidfVectorizer

            vectorizer = TfidfVectorizer()
            try:
                self._matrix = vectorizer.fit_transform(texts)
                self._vectorizer = vectorizer
            except ValueError:  # no words at all: every example is equally (un)like
                self._matrix = None

    def scores(self, query: str) -> Any:
        import numpy as np

        if self._matrix is None:
            return np.zeros(self._size)
        if self._embed is not None:
            vector = _unit_rows(np.asarray(self._embed([query]), dtype=float))[0]
            return self._matrix @ vector
        vector = self._vectorizer.transform([query])  # rows are L2-normalised
        return np.asarray((self._matrix @ vector.T).todense()).ravel()


def _unit_rows(matrix: Any) -> Any:
    import numpy as np

    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)


def select_examples(examples: Sequence[Example], *, mode: str, k: int = 3,
                    ids: Sequence[str] = (), seed: int = 0, query: str | None = None,
                    input_fields: str | Sequence[str] = "input",
                    embed: Embedder | None = None,
                    index: SimilarityIndex | None = None) -> list[Example]:
    """Choose few-shot examples.

    Args:
        examples: the candidate rows, each with an ``_id``.
        mode: ``fixed`` (`ids`, in that order), ``random`` (`k` chosen with `seed`;
            the same seed and rows always give the same choice) or ``similar`` (the
            `k` rows whose input is most like `query`; ties keep dataset order).
        input_fields: the field(s) compared with `query`.
        embed: compare sentence embeddings instead of TF-IDF vectors.
        index: a prebuilt index over `examples` (saves rebuilding it per call).

    Raises:
        NotFound: a fixed id is not among the examples (names it).
        InvalidInput: an unknown mode, or `similar` without a query.
    """
    if mode == "fixed":
        by_id = {example_id(e): e for e in examples}
        missing = [i for i in ids if str(i) not in by_id]
        if missing:
            raise NotFound(f"few-shot ids not in the dataset: {', '.join(map(str, missing))} "
                           f"(it has {len(by_id)} rows)")
        return [by_id[str(i)] for i in ids]
    if mode == "random":
        chosen = random.Random(seed).sample(range(len(examples)), min(k, len(examples)))
        return [examples[i] for i in chosen]
    if mode == "similar":
        if query is None:
            raise InvalidInput("few-shot mode 'similar' needs the current input as `query`")
        if index is None:
            index = SimilarityIndex([example_text(e, input_fields) for e in examples],
                                    embed=embed)
        scores = index.scores(query)
        order = sorted(range(len(examples)), key=lambda i: (-float(scores[i]), i))
        return [examples[i] for i in order[:k]]
    raise InvalidInput(f"unknown few-shot mode {mode!r}: use fixed, random or similar")


def read_examples(ref: str, workspace: Any = None) -> tuple[str, list[dict[str, Any]]]:
    """The rows of a dataset version (or split), through `llmops.datasets.read_rows`,
    and the reference pinned to the version they came from (``dataset:NAME@N#SPLIT``)."""
    try:  # imported here: the datasets service is a peer, used only when examples load
        datasets = importlib.import_module("llmops.datasets")
        read_rows = datasets.read_rows
    except (ImportError, AttributeError):
        raise InvalidInput(
            "few-shot examples come from datasets, and llmops.datasets is not available "
            "in this installation") from None
    rows: list[dict[str, Any]] = read_rows(ref, workspace=workspace)
    get_version = getattr(datasets, "get_version", None)
    if get_version is not None:
        from llmops.refs import parse_ref

        split = parse_ref(ref, default_kind="dataset").split
        ref = get_version(ref, workspace=workspace).ref + (f"#{split}" if split else "")
    return ref, rows


@functools.cache
def sentence_embedder(model: str) -> Embedder:
    """Encode with a sentence-transformers model (loaded once per process)."""
    from sentence_transformers import SentenceTransformer  # optional dependency

    encoder = SentenceTransformer(model)
    return functools.partial(encoder.encode, normalize_embeddings=True)


def pick_embedder(spec: FewShot) -> Embedder | None:
    """The embedder a few-shot block asks for, or None for TF-IDF."""
    if spec.similarity == "tfidf" or not spec.embedding_model:
        return None
    if importlib.util.find_spec("sentence_transformers") is None:
        if spec.similarity == "embedding":
            raise InvalidInput("few-shot similarity 'embedding' needs the "
                               "sentence-transformers package; install it, or use 'tfidf'")
        return None  # auto: TF-IDF when no embedding model is installed
    return sentence_embedder(spec.embedding_model)


class FewShotResolver:
    """A prompt's few-shot block, ready to render: rows loaded on first use, then kept."""

    def __init__(self, spec: FewShot, *, loader: ExampleLoader,
                 limits: RenderLimits, fast: bool = True) -> None:
        self.spec = spec
        self._loader = loader
        self._rows: list[dict[str, Any]] | None = None
        self.dataset = spec.dataset  # pinned to a version once the rows are loaded
        self._index: SimilarityIndex | None = None
        self.query = compile_template(spec.query, where="few_shot.query", limits=limits,
                                      fast=fast) if spec.query else None
        self.messages: list[tuple[str, str | None, CompiledTemplate]] = [
            (m.role, m.name, compile_template(m.content, where=f"few_shot.messages[{i}].content",
                                              limits=limits, fast=fast))
            for i, m in enumerate(spec.messages)]

    @property
    def variables(self) -> frozenset[str]:
        """The prompt variables the block reads (through its query)."""
        return self.query.variables if self.query else frozenset()

    def rows(self) -> list[dict[str, Any]]:
        if self._rows is None:
            dataset, rows = self._loader(self.spec.dataset)
            for row in rows:
                example_id(row)
            self._rows, self.dataset = rows, dataset
        return self._rows

    def choose(self, values: Mapping[str, Any]) -> list[Example]:
        spec = self.spec
        rows = self.rows()
        query = None
        if spec.mode == "similar":
            assert self.query is not None
            query = self.query.render(values)
            if self._index is None:
                self._index = SimilarityIndex([example_text(r, spec.input) for r in rows],
                                              embed=pick_embedder(spec))
        return select_examples(rows, mode=spec.mode, k=spec.k, ids=spec.ids, seed=spec.seed,
                               query=query, input_fields=spec.input, index=self._index)

    def render_messages(self, examples: Sequence[Example]) -> list[dict[str, str]]:
        out = []
        for example in examples:
            values = {"input": example_text(example, self.spec.input),
                      "output": example_text(example, self.spec.output),
                      "example": example}
            for role, name, template in self.messages:
                message = {"role": role, "content": template.render(values)}
                if name:
                    message["name"] = name
                out.append(message)
        return out
