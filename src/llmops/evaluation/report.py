"""A comparison of two evaluations (B against A) as one self-contained HTML page.

Charts are inline SVG drawn here; styles are inline; there is no script, no font and no
URL of any kind, so the file opens offline and can be mailed or attached as it is. Every
string that comes from the data (targets, metric names, inputs, outputs, references) is
HTML-escaped: model outputs and datasets are untrusted input. Hovering a dot or a bar shows
its exact numbers (an SVG <title>); hovering a truncated text shows it in full.
"""

from __future__ import annotations

import math

from llmops.clock import iso
from llmops.evaluation.metrics import higher_is_better
from llmops.evaluation.models import Comparison, Evaluation, ExamplePair, MetricDelta
from llmops.html_page import escape as _e
from llmops.html_page import page

A_COLOR = "#4f6bed"
B_COLOR = "#0f9d8a"
VERDICT_COLORS = {"better": "#1f9d55", "worse": "#d64550", "higher": "#3b82c4",
                  "lower": "#3b82c4", "no significant change": "#9aa3b5", "n/a": "#9aa3b5"}
WIDTH = 460
TEXT_LIMIT = 300

CSS = """
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(240px,1fr));gap:12px;
  margin-top:20px}
.card .v{font-size:15px;font-weight:650;word-break:break-word}
.panel{background:#fff;border-radius:10px;padding:16px 18px;margin:12px 0;
  box-shadow:0 1px 2px #0000001a;break-inside:avoid;overflow-x:auto}
td.t{text-align:left;white-space:pre-wrap;word-break:break-word;vertical-align:top;
  min-width:160px;max-width:320px}
.badge{font-size:11px;font-weight:500;color:#fff;border-radius:9px;padding:1px 8px}
"""

_NEUTRAL = {"length"}


def _ok(value: float) -> bool:
    return math.isfinite(value)


def _f(value: float, sign: bool = False) -> str:
    if not _ok(value):
        return "n/a"
    text = f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    return f"+{text}" if sign and value > 0 else text


def _p(value: float) -> str:
    if not _ok(value):
        return "n/a"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _clip(text: str, size: int = TEXT_LIMIT) -> str:
    """A text cell: the first `size` characters shown, the whole text in a tooltip."""
    shown = text if len(text) <= size else text[:size - 1] + "…"
    return f'<td class="t" title="{_e(text)}">{_e(shown)}</td>'


def _neutral(metric: str) -> bool:
    return (metric in _NEUTRAL or not higher_is_better(metric) or metric.endswith("_ms")
            or metric.startswith("cost"))


def verdict(d: MetricDelta) -> str:
    """What the interval says: better/worse (higher/lower for cost-like metrics) or neither."""
    if not (_ok(d.ci_low) and _ok(d.ci_high)):
        return "n/a"
    if not d.significant:
        return "no significant change"
    up = d.ci_low > 0
    if _neutral(d.metric):
        return "higher" if up else "lower"
    return "better" if up else "worse"


def _badge(text: str) -> str:
    return f'<span class="badge" style="background:{VERDICT_COLORS[text]}">{_e(text)}</span>'


# --- charts --------------------------------------------------------------------------------

def forest_svg(d: MetricDelta) -> str:
    """One metric's difference B - A as a dot with its 95% interval, zero in the middle."""
    left, right, height, mid = 16, 16, 56, 22
    plot_w = WIDTH - left - right
    values = [v for v in (d.diff, d.ci_low, d.ci_high) if _ok(v)]
    span = max((abs(v) for v in values), default=0.0) or 1.0
    color = VERDICT_COLORS[verdict(d)]

    def x_of(value: float) -> float:
        return left + (value + span) / (2 * span) * plot_w

    tip = f"{_e(d.metric)}: B - A {_f(d.diff, True)}, 95% CI [{_f(d.ci_low)}, {_f(d.ci_high)}]"
    parts = [f'<svg viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
             f'role="img" aria-label="difference in {_e(d.metric)}">',
             f'<line x1="{left}" x2="{WIDTH - right}" y1="{mid}" y2="{mid}" stroke="#e6e9f0"/>',
             f'<line x1="{x_of(0):.1f}" x2="{x_of(0):.1f}" y1="4" y2="{mid + 14}" '
             f'stroke="#1d2433" stroke-dasharray="3 3"/>']
    if _ok(d.ci_low) and _ok(d.ci_high):
        parts.append(f'<line x1="{x_of(d.ci_low):.1f}" x2="{x_of(d.ci_high):.1f}" y1="{mid}" '
                     f'y2="{mid}" stroke="{color}" stroke-width="3" stroke-linecap="round">'
                     f"<title>{tip}</title></line>")
    if _ok(d.diff):
        parts.append(f'<circle cx="{x_of(d.diff):.1f}" cy="{mid}" r="6" fill="{color}">'
                     f"<title>{tip}</title></circle>")
    else:
        parts.append(f'<text x="{WIDTH / 2:.1f}" y="{mid - 8}" text-anchor="middle">n/a</text>')
    for value, anchor in ((-span, "start"), (0.0, "middle"), (span, "end")):
        parts.append(f'<text x="{x_of(value):.1f}" y="{height - 6}" text-anchor="{anchor}">'
                     f"{_f(value, True)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def paired_svg(deltas: list[MetricDelta]) -> str:
    """A and B side by side per metric, each pair scaled to the larger of its two values."""
    left, right, row_h, top = 150, 90, 18, 6
    group = row_h * 2 + 10
    height = top * 2 + group * len(deltas)
    plot_w = WIDTH - left - right
    parts = [f'<svg viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
             f'role="img" aria-label="A and B per metric">']
    for i, d in enumerate(deltas):
        y0 = top + i * group
        label = d.metric if len(d.metric) <= 22 else d.metric[:21] + "…"
        parts.append(f'<text x="{left - 8}" y="{y0 + row_h + 4}" text-anchor="end">'
                     f"<title>{_e(d.metric)}</title>{_e(label)}</text>")
        peak = max((abs(v) for v in (d.a, d.b) if _ok(v)), default=0.0) or 1.0
        for j, (name, value, color) in enumerate((("A", d.a, A_COLOR), ("B", d.b, B_COLOR))):
            y = y0 + j * row_h
            w = max(plot_w * abs(value) / peak, 1) if _ok(value) else 0
            parts.append(f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" '
                         f'fill="{color}" rx="2"><title>{_e(d.metric)} {name}: {_f(value)}'
                         f"</title></rect>")
            parts.append(f'<text x="{left + w + 6:.1f}" y="{y + 13}">{name} {_f(value)}</text>')
    parts.append("</svg>")
    return "".join(parts)


# --- sections ------------------------------------------------------------------------------

def _card(key: str, e: Evaluation) -> str:
    facts = (f"data {_e(e.data)}<br>{e.total:,} examples, {e.failed:,} failed · "
             f"{_e(e.ref)}<br>created {_e(iso(e.created_at) or '-')} by {_e(e.created_by)}")
    return (f'<div class="card"><div class="k">{key}</div><div class="v">{_e(e.target)}</div>'
            f'<div class="n">{facts}</div></div>')


def _delta_table(deltas: list[MetricDelta]) -> str:
    head = "".join(f"<th>{h}</th>" for h in ("metric", "A", "B", "diff (B - A)", "95% CI",
                                             "p-value", "n", "verdict"))
    rows = [f"<tr><td>{_e(d.metric)}</td><td>{_f(d.a)}</td><td>{_f(d.b)}</td>"
            f"<td>{_f(d.diff, True)}</td><td>[{_f(d.ci_low)}, {_f(d.ci_high)}]</td>"
            f"<td>{_e(_p(d.p_value))}</td><td>{d.n:,}</td><td>{_badge(verdict(d))}</td></tr>"
            for d in deltas]
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _examples_table(pairs: list[ExamplePair]) -> str:
    head = "".join(f"<th>{h}</th>" for h in ("row", "input", "reference", "output A",
                                             "output B", "score A", "score B", "delta"))
    rows = [f"<tr><td>{_e(p.row_id)}</td>{_clip(p.input)}"
            + (_clip(p.reference) if p.reference is not None else '<td class="muted">-</td>')
            + f"{_clip(p.output_a)}{_clip(p.output_b)}<td>{_f(p.score_a)}</td>"
            f"<td>{_f(p.score_b)}</td><td>{_f(p.delta, True)}</td></tr>"
            for p in pairs]
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def render_comparison(c: Comparison) -> str:
    """The comparison of two evaluations as one self-contained HTML page.

    Args:
        c: evaluation A (`c.a`), evaluation B (`c.b`), the per-metric differences B - A with
            their bootstrap intervals, and the examples that regressed most per metric.

    Returns:
        The HTML text: inline CSS and SVG only, no script, no external resource, every data
        string escaped; safe to open offline.
    """
    out = [f"<header><h1>Evaluation comparison</h1><p class=\"sub\">B against A · paired "
           f"bootstrap, {c.resamples:,} resamples, 95% intervals</p></header>"
           f'<section class="cards">{_card("A", c.a)}{_card("B", c.b)}</section>'
           "<h2>Metrics</h2>"]
    if not c.deltas:
        out.append('<article class="panel"><p class="muted">No metric in common.</p></article>')
    else:
        out.append('<article class="panel"><p class="sub">A verdict needs the interval to '
                   "exclude 0. Higher is better except for length, latency and cost, which "
                   "are only said to be higher or lower.</p>" + _delta_table(c.deltas)
                   + "</article><h2>Differences (B - A)</h2>"
                   '<article class="panel"><div class="charts">')
        for d in c.deltas:
            out.append(f'<div class="chart"><p class="cap">{_e(d.metric)}: '
                       f"{_f(d.diff, True)} [{_f(d.ci_low)}, {_f(d.ci_high)}] "
                       f"{_badge(verdict(d))}</p>{forest_svg(d)}</div>")
        out.append('</div></article><h2>A and B</h2><article class="panel">'
                   '<p class="sub">Each metric scaled to the larger of its two values: '
                   f'<span style="color:{A_COLOR}">A</span> and '
                   f'<span style="color:{B_COLOR}">B</span>.</p>'
                   + paired_svg(c.deltas) + "</article>")
    if c.regressed:
        out.append("<h2>Largest regressions</h2>")
    for metric, pairs in c.regressed.items():
        body = _examples_table(pairs) if pairs else '<p class="muted">none</p>'
        out.append(f'<article class="panel"><h3>{_e(metric)}</h3>{body}</article>')
    out.append("<footer>llmops evaluation comparison. Hover a dot or bar for its numbers, "
               "a truncated text for all of it.</footer>")
    return page("Evaluation comparison", "".join(out), css=CSS)
