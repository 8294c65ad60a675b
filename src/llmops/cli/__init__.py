"""The `llmops` command line: one module per command group, thin over the services."""

from __future__ import annotations

import sys


def main() -> None:
    """Console entry point: user errors print a message and exit 1, never a traceback."""
    from llmops.cli.app import app
    from llmops.errors import LlmopsError

    try:
        app()
    except LlmopsError as exc:
        from llmops.cli.output import error

        error(exc)
        sys.exit(1)
