"""`llmops server`: the API (and later the gateway) on uvicorn."""

from __future__ import annotations

import typer


def serve(
    host: str | None = typer.Option(None, "--host", help="Bind address [LLMOPS_HOST]."),
    port: int | None = typer.Option(None, "--port", help="Port [LLMOPS_PORT]."),
    gateway_only: bool = typer.Option(False, "--gateway-only", help="Serve only the "
                                      "OpenAI-compatible gateway (/v1/...), /metrics and "
                                      "/healthz, without the /api/v1 management API."),
) -> None:
    """Serve /healthz, /api/v1 and the gateway's /v1 (keys and roles on every route but
    /healthz)."""
    try:
        import uvicorn

        from llmops.server import create_app
    except ImportError:
        from llmops.errors import InvalidInput

        raise InvalidInput("the server needs the serve extra: pip install 'llmops[serve]'"
                           ) from None
    from llmops.config import get_settings

    settings = get_settings()
    uvicorn.run(create_app(settings, gateway_only=gateway_only), host=host or settings.host,
                port=port or settings.port, log_level="info", access_log=False)
