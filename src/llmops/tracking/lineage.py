"""Lineage: a graph of edges between objects, addressed as ``kind:id`` nodes.

Traces and feedback -> dataset version -> training run -> model version -> deployment
-> traces: every service records what it made from what, and one walk answers where
something came from (upstream) and what it went into (downstream).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from llmops.clock import now_ms
from llmops.errors import InvalidInput
from llmops.refs import KINDS
from llmops.store import upsert_insert
from llmops.store.tables import lineage_edges as edges
from llmops.tracking.models import LineageEdge, LineageGraph

MAX_NODES = 10_000


def check_node(node: str) -> tuple[str, str]:
    kind, _, ident = node.partition(":")
    if kind not in KINDS or not ident or len(ident) > 128 or not ident.isprintable():
        raise InvalidInput(f"invalid lineage node {node!r}: expected KIND:ID")
    return kind, ident


def add_edge(conn: Connection, source: str, target: str, relation: str) -> None:
    """Record `source` -> `target`; recording the same edge twice changes nothing."""
    s_kind, s_id = check_node(source)
    t_kind, t_id = check_node(target)
    conn.execute(upsert_insert(conn, edges).on_conflict_do_nothing(), {
        "source_kind": s_kind, "source_id": s_id, "target_kind": t_kind, "target_id": t_id,
        "relation": relation, "created_at": now_ms(),
    })


def _edge(row: Any) -> LineageEdge:
    return LineageEdge(
        source=f"{row.source_kind}:{row.source_id}",
        target=f"{row.target_kind}:{row.target_id}",
        relation=row.relation,
        created_at=row.created_at,
    )


def _served(conn: Connection, trace_id: str) -> list[LineageEdge]:
    """A gateway trace's model version, read from the trace itself (the gateway writes no
    edge per request): ``model:VERSION --served--> trace:ID``."""
    from llmops.store.tables import traces

    row = conn.execute(select(traces.c.model_version_id, traces.c.created_at).where(
        traces.c.id == trace_id)).first()
    if row is None or not row.model_version_id:
        return []
    return [LineageEdge(source=f"model:{row.model_version_id}", target=f"trace:{trace_id}",
                        relation="served", created_at=row.created_at)]


def walk(conn: Connection, node: str, *, depth: int = 10) -> LineageGraph:
    """Breadth-first walk up (what `node` came from) and down (what came from it)."""
    check_node(node)
    found: dict[str, list[LineageEdge]] = {"up": [], "down": []}
    for direction in ("up", "down"):
        near, far = (edges.c.target_kind, edges.c.target_id), (edges.c.source_kind,
                                                               edges.c.source_id)
        if direction == "down":
            near, far = far, near
        seen, frontier = {node}, [node]
        for _ in range(depth):
            if not frontier or len(seen) > MAX_NODES:
                break
            nxt: list[str] = []
            for current in frontier:
                kind, ident = check_node(current)
                rows = conn.execute(
                    select(edges).where(near[0] == kind, near[1] == ident).order_by(edges.c.id)
                ).all()
                implied = _served(conn, ident) if direction == "up" and kind == "trace" else []
                for edge in implied + [_edge(row) for row in rows]:
                    found[direction].append(edge)
                    other = edge.source if direction == "up" else edge.target
                    if other not in seen:
                        seen.add(other)
                        nxt.append(other)
            frontier = nxt
    return LineageGraph(root=node, upstream=found["up"], downstream=found["down"])
