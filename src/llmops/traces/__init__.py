"""Traces: query, export and full-text search over gateway traces, OTLP span ingest,
and the `@llmops.trace` / `llmops.span` SDK for application steps.

Modules: `query` (the --where language, --since), `store` (list, show, export, search),
`spans` (OTLP decoding and span writes), `sdk` (the decorator and context manager).
"""
