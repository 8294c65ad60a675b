"""Text as vectors for drift: sentence embeddings when installed, TF-IDF + SVD otherwise.

`TextVectors.fit(texts)` fits on the pooled texts of both samples (so the reference and
the current window share one vocabulary and one projection) and returns unit vectors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from llmops.errors import InvalidInput

Backend = Literal["auto", "sentence", "tfidf"]
MAX_TFIDF_FEATURES = 20_000
SVD_COMPONENTS = 64


def sentence_embeddings_available() -> bool:
    """True when sentence-transformers and an embedding model are installed."""
    import importlib.util

    if importlib.util.find_spec("sentence_transformers") is None:
        return False
    from llmops.embeddings import model_source

    try:
        model_source()
    except InvalidInput:
        return False
    return True


def tfidf_svd(texts: Sequence[str], *, components: int = SVD_COMPONENTS,
              seed: int = 0) -> tuple[np.ndarray, Any, Any]:
    """Unit vectors from TF-IDF (words and bigrams, sublinear tf) reduced by truncated SVD;
    also returns the vectorizer and the SVD, for naming topics."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1,
                                 max_features=MAX_TFIDF_FEATURES, stop_words="english")
    try:
        matrix = vectorizer.fit_transform(list(texts))
    except ValueError:  # only stop words or empty texts
        return np.zeros((len(texts), 1)), None, None
    k = min(components, matrix.shape[1] - 1, matrix.shape[0] - 1)
    if k < 1:
        dense = matrix.toarray()
        return _unit(dense), vectorizer, None
    svd = TruncatedSVD(n_components=k, random_state=seed)
    return _unit(svd.fit_transform(matrix)), vectorizer, svd


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms == 0, 1.0, norms)


def embed_texts(texts: Sequence[str], backend: Backend = "auto") -> tuple[np.ndarray, str]:
    """Vectors for `texts` and the name of the backend that made them."""
    if backend == "sentence" or (backend == "auto" and sentence_embeddings_available()):
        from llmops.config import get_settings
        from llmops.embeddings import embed

        name = get_settings().embedding_model or "all-MiniLM-L6-v2"
        return np.asarray(embed(list(texts))), f"sentence-transformers:{name}"
    vectors, _, _ = tfidf_svd(texts)
    return vectors, "tfidf-svd"
