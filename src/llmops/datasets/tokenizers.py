"""Tokenizers for counting tokens in profiles: a built-in approximation, or a real one.

`load_tokenizer(None)` counts words and punctuation. A local folder or a Hugging Face Hub
id goes through transformers when installed, else through the `tokenizers` library (which
needs a tokenizer.json). With HF_HUB_OFFLINE=1 an id that is not cached fails at once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

from llmops.errors import InvalidInput

_WORD_OR_PUNCT = re.compile(r"\w+|[^\w\s]")


@runtime_checkable
class Tokenizer(Protocol):
    """What the profile needs of a tokenizer: a name to record and a token count."""

    name: str

    def count(self, text: str) -> int:
        """Number of tokens in text, without special tokens."""
        ...


class RegexTokenizer:
    """The built-in approximation: each run of word characters is a token, and so is each
    other non-space character (punctuation, symbols). No model needed; BPE tokenizers give
    somewhat more tokens on English and many more on code and non-Latin scripts."""

    name = "builtin:regex-words"

    def count(self, text: str) -> int:
        return len(_WORD_OR_PUNCT.findall(text))


class _LibraryTokenizer:
    """A transformers or tokenizers tokenizer, reduced to a name and a count."""

    def __init__(self, name: str, count: Callable[[str], int]) -> None:
        self.name = name
        self.count = count


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def _hub_cache() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join("~", ".cache", "huggingface")
    return Path(home).expanduser() / "hub"


def _cached_file(repo_id: str, filename: str) -> str | None:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    try:
        found = try_to_load_from_cache(repo_id, filename, cache_dir=_hub_cache())
    except ValueError:  # not a valid repo id
        return None
    return found if isinstance(found, str) else None


def _from_tokenizer_json(name: str, path: Path) -> Tokenizer:
    try:
        from tokenizers import Tokenizer as HFTokenizer
    except ImportError as exc:
        raise InvalidInput(
            f"cannot load tokenizer {name!r}: neither transformers nor tokenizers is "
            "installed; pip install tokenizers (or transformers), or leave --tokenizer out "
            "to count words and punctuation") from exc
    try:
        tokenizer = HFTokenizer.from_file(str(path))
    except Exception as exc:  # the library raises plain Exception on a malformed file
        raise InvalidInput(f"cannot load tokenizer {name!r} from {path}: {exc}") from exc
    return _LibraryTokenizer(
        name, lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids))


def _from_transformers(name: str, source: str, cache_dir: Path | None = None
                       ) -> Tokenizer | None:
    try:
        from transformers import AutoTokenizer
    except ImportError:
        return None
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, cache_dir=cache_dir)
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot load tokenizer {name!r}: {exc}") from exc
    return _LibraryTokenizer(
        name, lambda text: len(tokenizer.encode(text, add_special_tokens=False)))


def load_tokenizer(name_or_path: str | None) -> Tokenizer:
    """The tokenizer the profile counts tokens with.

    Args:
        name_or_path: None for the built-in `RegexTokenizer`; a local folder (or a
            tokenizer.json file); or a Hugging Face Hub id. A folder or hub id goes through
            `transformers.AutoTokenizer` when transformers is installed, else through the
            `tokenizers` library, which needs a tokenizer.json.

    Returns:
        A `Tokenizer` named after `name_or_path`.

    Raises:
        InvalidInput: the folder does not exist or holds no usable tokenizer; the hub id is
            not cached while HF_HUB_OFFLINE=1; or no library can load it.
    """
    if name_or_path is None or name_or_path == "":
        return RegexTokenizer()
    name = name_or_path
    path = Path(name).expanduser()
    if path.is_file():
        return _from_tokenizer_json(name, path)
    if path.is_dir():
        try:
            loaded = _from_transformers(name, str(path))
        except InvalidInput:
            # e.g. a bare tokenizer.json without the config transformers wants
            if not (path / "tokenizer.json").is_file():
                raise
            loaded = None
        if loaded is not None:
            return loaded
        if not (path / "tokenizer.json").is_file():
            raise InvalidInput(
                f"tokenizer folder {name!r} has no tokenizer.json; install transformers to "
                "load other tokenizer formats")
        return _from_tokenizer_json(name, path / "tokenizer.json")
    if name.startswith((".", "/", "~")) or name.count("/") > 1 or name.endswith(".json"):
        raise InvalidInput(f"tokenizer path {name!r} does not exist; pass a folder that "
                           "contains tokenizer.json, or a Hugging Face Hub id")
    cached = _cached_file(name, "tokenizer.json")
    if _offline() and cached is None and _cached_file(name, "tokenizer_config.json") is None:
        raise InvalidInput(
            f"tokenizer {name!r} is not available offline (HF_HUB_OFFLINE=1 and it is not "
            "in the Hugging Face cache); pass a local path to a folder containing "
            "tokenizer.json")
    try:
        # the cache folder read now, not when huggingface_hub was first imported
        loaded = _from_transformers(name, name, cache_dir=_hub_cache())
    except InvalidInput:
        if cached is None:  # a cached tokenizer.json alone still loads with tokenizers
            raise
        loaded = None
    if loaded is not None:
        return loaded
    if cached is None:
        try:
            from huggingface_hub import hf_hub_download
        except ImportError as exc:
            raise InvalidInput(f"cannot download tokenizer {name!r}: install transformers, "
                               "or pass a local folder containing tokenizer.json") from exc
        try:
            cached = hf_hub_download(name, "tokenizer.json", cache_dir=_hub_cache())
        except Exception as exc:  # hub errors: not found, gated, no network
            raise InvalidInput(f"cannot download tokenizer {name!r} from the Hugging Face "
                               f"Hub: {exc}; pass a local folder containing tokenizer.json"
                               ) from exc
    return _from_tokenizer_json(name, Path(cached))
