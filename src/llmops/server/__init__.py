"""The HTTP server: API under /api/v1 (and later the gateway under /v1)."""

from llmops.server.app import create_app

__all__ = ["create_app"]
