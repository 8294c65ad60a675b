"""The drift report as one self-contained HTML page: a verdict, a table of every check
and a chart per check (inline SVG; the page shell and escaping from html_page)."""

from __future__ import annotations

import math
from typing import Any

from llmops.clock import iso
from llmops.html_page import escape as _e
from llmops.html_page import page
from llmops.monitoring.models import DriftCheck, DriftReport

WIDTH = 440
CURRENT = "#d9480f"
REFERENCE = "#3b5bdb"

CSS = """
.verdict{display:inline-block;padding:3px 10px;border-radius:12px;font-weight:600}
.drift{background:#ffe3e3;color:#c92a2a}.ok{background:#d3f9d8;color:#2b8a3e}
.skip{background:#f1f3f5;color:#5b6478}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.cards .card{flex:1 1 200px}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px;border-radius:2px}
.panel{background:#fff;border-radius:10px;padding:14px 16px;margin:0 0 14px;
  box-shadow:0 1px 2px #0000001a}
"""


def _num(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if value != 0 and abs(value) < 10 ** -digits:
        return f"{value:.2e}"
    return f"{value:.{digits}g}"


def _badge(check: DriftCheck) -> str:
    if check.skipped:
        return '<span class="verdict skip">skipped</span>'
    return ('<span class="verdict drift">drift</span>' if check.drifted
            else '<span class="verdict ok">ok</span>')


def _legend() -> str:
    return (f'<p class="legend sub"><span style="background:{REFERENCE}"></span>reference'
            f'<span style="background:{CURRENT}"></span>current</p>')


def histogram_svg(chart: dict[str, Any]) -> str:
    """Side-by-side bars per bin: the share of each sample in it."""
    edges, cur, ref = chart["edges"], chart["current"], chart["reference"]
    height, left, bottom = 170, 34, 22
    top = max(max(cur, default=0), max(ref, default=0)) or 1.0
    bins = len(cur)
    step = (WIDTH - left - 6) / max(1, bins)
    bar = max(1.0, step / 2 - 1)
    parts = [f'<svg viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
             'role="img">']
    base = height - bottom
    for i in range(bins):
        x = left + i * step
        for j, (share, color) in enumerate(((ref[i], REFERENCE), (cur[i], CURRENT))):
            h = (base - 8) * share / top
            parts.append(f'<rect x="{x + j * bar:.1f}" y="{base - h:.1f}" width="{bar:.1f}" '
                         f'height="{h:.1f}" fill="{color}" opacity="0.85"/>')
    parts.append(f'<line x1="{left}" y1="{base}" x2="{WIDTH - 4}" y2="{base}" '
                 'stroke="#c9ced8"/>')
    parts.append(f'<text x="{left}" y="{height - 6}">{_e(_num(edges[0]))}</text>')
    parts.append(f'<text x="{WIDTH - 4}" y="{height - 6}" text-anchor="end">'
                 f'{_e(_num(edges[-1]))}</text>')
    parts.append(f'<text x="2" y="12">{top:.0%}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _hbars(rows: list[tuple[str, float, float]], *, percent: bool = True) -> str:
    """Pairs of horizontal bars (reference, current) per labelled row."""
    label_w, row_h = 170, 30
    height = row_h * len(rows) + 8
    top = max([max(r, c) for _, r, c in rows] or [1.0]) or 1.0
    span = WIDTH - label_w - 60
    parts = [f'<svg viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
             'role="img">']
    for i, (label, ref, cur) in enumerate(rows):
        y = 4 + i * row_h
        parts.append(f'<text x="0" y="{y + 14}">{_e(label[:28])}</text>')
        for j, (value, color) in enumerate(((ref, REFERENCE), (cur, CURRENT))):
            w = span * value / top
            text = f"{value:.1%}" if percent else _num(value)
            parts.append(f'<rect x="{label_w}" y="{y + j * 12}" width="{w:.1f}" height="10" '
                         f'fill="{color}"/><text x="{label_w + w + 4:.1f}" '
                         f'y="{y + j * 12 + 9}">{_e(text)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def scatter_svg(chart: dict[str, Any]) -> str:
    """Both samples on the pooled vectors' first two principal axes."""
    points = [(p, REFERENCE) for p in chart["reference"]] + \
             [(p, CURRENT) for p in chart["current"]]
    if not points:
        return '<p class="muted">no variance to draw</p>'
    size, pad = 260, 10
    xs = [p[0] for p, _ in points]
    ys = [p[1] for p, _ in points]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    sx = (size - 2 * pad) / ((x1 - x0) or 1)
    sy = (size - 2 * pad) / ((y1 - y0) or 1)
    parts = [f'<svg viewBox="0 0 {size} {size}" width="{size}" height="{size}" role="img">'
             f'<rect x="0" y="0" width="{size}" height="{size}" fill="#fafbfc"/>']
    for (x, y), color in points:
        parts.append(f'<circle cx="{pad + (x - x0) * sx:.1f}" '
                     f'cy="{size - pad - (y - y0) * sy:.1f}" r="2.5" fill="{color}" '
                     'opacity="0.6"/>')
    parts.append("</svg>")
    return "".join(parts)


def chart_svg(check: DriftCheck) -> str:
    chart = check.chart
    if not chart:
        return ""
    kind = chart["kind"]
    if kind == "histogram":
        return histogram_svg(chart)
    if kind == "rates":
        return _hbars([(check.name.replace("_", " "), chart["reference"], chart["current"])])
    if kind == "scatter":
        return scatter_svg(chart)
    if kind == "topics":
        topics = chart["topics"]
        n_cur = sum(t["current"] for t in topics) or 1
        n_ref = sum(t["reference"] for t in topics) or 1
        return _hbars([(", ".join(t["terms"][:3]), t["reference"] / n_ref,
                        t["current"] / n_cur) for t in topics])
    return ""


def _row(check: DriftCheck) -> str:
    return (f"<tr><td>{_e(check.name)}</td><td>{_e(check.test)}</td>"
            f"<td>{_num(check.statistic)}</td><td>{_num(check.p_value)}</td>"
            f"<td>{_num(check.threshold)}</td><td>{_num(check.reference_value)}</td>"
            f"<td>{_num(check.value)}</td><td>{check.n_reference}</td>"
            f"<td>{check.n_current}</td><td>{_badge(check)}</td></tr>")


def _panel(check: DriftCheck) -> str:
    body = f'<p class="sub">{_e(check.skipped)}</p>' if check.skipped else (
        (f'<p class="sub">{_e(check.note)}</p>' if check.note else "")
        + _legend() + f'<div class="chart">{chart_svg(check)}</div>')
    return (f'<section class="panel"><h3>{_e(check.name.replace("_", " "))} '
            f'{_badge(check)}</h3>{body}</section>')


def render_html(report: DriftReport) -> str:
    """The whole page: no script, no external resource."""
    cls = {"drift": "drift", "no drift": "ok"}.get(report.verdict, "skip")
    cards = "".join(
        f'<div class="card"><div class="k">{_e(k)}</div><div>{_e(v)}</div></div>'
        for k, v in (("target", report.target), ("reference", report.reference),
                     ("current window", report.current),
                     ("embeddings", report.embedding_backend),
                     ("significance level", _num(report.threshold))))
    table = ("<table><tr><th>check</th><th>test</th><th>statistic</th><th>p-value</th>"
             "<th>threshold</th><th>reference</th><th>current</th><th>n ref</th>"
             "<th>n cur</th><th></th></tr>" + "".join(_row(c) for c in report.checks)
             + "</table>")
    drifted = ", ".join(report.drifted) or "none"
    body = (f"<h1>Drift report: {_e(report.target)}</h1>"
            f'<p class="sub">made {_e(iso(report.created_at))} &middot; '
            f'<span class="verdict {cls}">{_e(report.verdict)}</span> &middot; drifted: '
            f"{_e(drifted)}</p><div class=\"cards\">{cards}</div>"
            f"<h2>Checks</h2>{table}<h2>Charts</h2>"
            + "".join(_panel(c) for c in report.checks)
            + "<footer>llmops monitor drift</footer>")
    return page(f"Drift report: {report.target}", body, css=CSS)
