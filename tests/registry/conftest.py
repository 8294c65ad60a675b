"""Model fixtures (see tests/tiny.py)."""

from tests.tiny import home, tiny_base  # noqa: F401
