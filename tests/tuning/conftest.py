"""Model fixtures (see tests/tiny.py) and a fresh Optuna storage per test."""

from collections.abc import Iterator

import pytest

from tests.tiny import home, tiny_base  # noqa: F401


@pytest.fixture(autouse=True)
def fresh_storage() -> Iterator[None]:
    """Each test's home has its own study storage: close the ones a test opened."""
    from llmops.tuning.storage import close_storages

    close_storages()
    yield
    close_storages()
