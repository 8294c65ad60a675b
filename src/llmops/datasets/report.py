"""The profile of a dataset version as one self-contained HTML page.

Charts are inline SVG drawn here; styles are inline; there is no script, no font and no
URL of any kind, so the file opens offline and can be mailed or attached as it is. Every
string that comes from the data (field names, roles, n-grams, PII types) is HTML-escaped:
datasets are untrusted input. Hovering a bar shows its exact count (an SVG <title>).
"""

from __future__ import annotations

from collections.abc import Sequence

from llmops.datasets.profile import ChatProfile, FieldProfile, LengthStats, Profile
from llmops.html_page import escape as _e
from llmops.html_page import page

CHARS_COLOR = "#4f6bed"
TOKENS_COLOR = "#0f9d8a"
TURNS_COLOR = "#8b5cf6"
ROLES_COLOR = "#e08a00"
PII_COLOR = "#d64550"
PREFERENCE_COLOR = "#3b82c4"
WIDTH = 460

CSS = """
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:12px;
  margin-top:20px}
.card .v{font-size:22px;font-weight:650}
.panel{background:#fff;border-radius:10px;padding:16px 18px;margin:12px 0;
  box-shadow:0 1px 2px #0000001a;break-inside:avoid}
.badge{font-size:11px;font-weight:500;color:#3d4a66;background:#e8ecf6;border-radius:9px;
  padding:1px 8px}
.grams{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:12px}
.grams table{width:100%}
.grams td.g{white-space:normal;word-break:break-word;position:relative}
.bar{display:inline-block;height:8px;border-radius:4px;background:#c9d3f5;margin-right:6px;
  vertical-align:middle}
"""


def _num(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _compact(value: float) -> str:
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return _num(value)


def _clip(label: str, size: int = 22) -> str:
    return label if len(label) <= size else label[:size - 1] + "…"


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


# --- charts --------------------------------------------------------------------------------

def histogram_svg(stats: LengthStats, *, unit: str, color: str) -> str:
    """A histogram with dashed markers at p50, p90 and p99, as inline SVG.

    Args:
        stats: the series, with its histogram.
        unit: what is counted, for the tooltips ("chars", "tokens", "messages").
        color: the bars' fill.

    Returns:
        An <svg> element, or a short note when the series is empty.
    """
    edges, counts = stats.histogram.edges, stats.histogram.counts
    if not counts or stats.count == 0:
        return '<p class="muted">no values</p>'
    left, right, top, bottom, height = 48, 12, 36, 26, 210
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    peak = max(counts) or 1
    lo, hi = edges[0], edges[-1]
    bar_w = plot_w / len(counts)

    def x_of(value: float) -> float:
        return left + (value - lo) / (hi - lo) * plot_w

    parts = [f'<svg viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
             f'role="img" aria-label="histogram of {_e(unit)}">']
    for tick in sorted({0, peak // 2, peak}):
        y = top + plot_h * (1 - tick / peak)
        parts.append(f'<line x1="{left}" x2="{WIDTH - right}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="#e6e9f0"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
                     f'{_compact(tick)}</text>')
    for i, count in enumerate(counts):
        h = plot_h * count / peak
        start, end = edges[i], edges[i + 1] - 1
        span = f"{start:,}" if start == end else f"{start:,}–{end:,}"
        parts.append(
            f'<rect x="{left + i * bar_w + 0.5:.1f}" y="{top + plot_h - h:.1f}" '
            f'width="{max(bar_w - 1, 0.5):.1f}" height="{h:.1f}" fill="{color}" rx="1.5">'
            f'<title>{span} {_e(unit)}: {count:,}</title></rect>')
    ticks = [lo, lo + (hi - lo) / 2, hi] if len(counts) > 1 else [lo]
    anchors = ["start", "middle", "end"] if len(counts) > 1 else ["middle"]
    for value, anchor in zip(ticks, anchors, strict=True):
        x = x_of(value) if len(counts) > 1 else left + bar_w / 2
        parts.append(f'<text x="{x:.1f}" y="{height - 8}" text-anchor="{anchor}">'
                     f'{_compact(value)}</text>')
    for row, (label, value) in enumerate((("p50", stats.p50), ("p90", stats.p90),
                                          ("p99", stats.p99))):
        if hi == lo:
            break
        # a value v lies in the bar [edge, edge + width): mark the middle of its unit
        x = min(x_of(value + 0.5), WIDTH - right)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{13 + row * 10}" y2="{top + plot_h}" '
                     f'stroke="#1d2433" stroke-dasharray="3 3" stroke-width="1"/>')
        anchor = "end" if x > WIDTH - 70 else "start"
        dx = -3 if anchor == "end" else 3
        parts.append(f'<text x="{x + dx:.1f}" y="{11 + row * 10}" '
                     f'text-anchor="{anchor}" style="fill:#1d2433">{label} {_num(value)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def bar_svg(items: Sequence[tuple[str, int]], *, color: str, total: int | None = None) -> str:
    """Horizontal bars, one per (label, count), largest first as given, as inline SVG.

    Args:
        items: labels (from the data: they are escaped) and counts.
        color: the bars' fill.
        total: when given, each bar also shows its share of it.

    Returns:
        An <svg> element, or a short note when there is nothing to draw.
    """
    if not items:
        return '<p class="muted">none</p>'
    left, right, row_h, top = 150, 90, 24, 6
    height = top * 2 + row_h * len(items)
    plot_w = WIDTH - left - right
    peak = max(count for _, count in items) or 1
    parts = [f'<svg viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
             f'role="img">']
    for i, (label, count) in enumerate(items):
        y = top + i * row_h
        w = max(plot_w * count / peak, 1)
        share = f" ({_pct(count, total)})" if total else ""
        parts.append(f'<text x="{left - 8}" y="{y + 16}" text-anchor="end">'
                     f'<title>{_e(label)}</title>{_e(_clip(label))}</text>')
        parts.append(f'<rect x="{left}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" '
                     f'fill="{color}" rx="2"><title>{_e(label)}: {count:,}{share}</title></rect>')
        parts.append(f'<text x="{left + w + 6:.1f}" y="{y + 16}">{count:,}{share}</text>')
    parts.append("</svg>")
    return "".join(parts)


# --- sections ------------------------------------------------------------------------------

def _stats_table(rows: Sequence[tuple[str, LengthStats]]) -> str:
    head = "".join(f"<th>{h}</th>" for h in
                   ("", "values", "min", "mean", "p50", "p90", "p99", "max"))
    body = []
    for label, s in rows:
        cells = [s.count, s.min, s.mean, s.p50, s.p90, s.p99, s.max]
        approx = (f' <span class="muted" title="read at a resolution of {s.resolution}">'
                  f'(±{s.resolution})</span>' if s.resolution > 1 else "")
        body.append(f"<tr><td>{_e(label)}{approx}</td>"
                    + "".join(f"<td>{_num(c)}</td>" for c in cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _chart(caption: str, svg: str) -> str:
    return f'<div class="chart"><p class="cap">{caption}</p>{svg}</div>'


def _field_panel(name: str, field: FieldProfile, row_count: int) -> str:
    facts = (f"present in {field.count:,} rows ({_pct(field.count, row_count)}), "
             f"missing in {field.missing:,}, blank in {field.empty:,}")
    per = "per conversation, summed over messages" if field.type != "text" else "per row"
    return (f'<article class="panel"><h3>{_e(name)} <span class="badge">{_e(field.type)}'
            f'</span></h3><p class="sub">{facts}</p>'
            + _stats_table([("characters", field.chars), ("tokens", field.tokens)])
            + '<div class="charts">'
            + _chart(f"Characters {per}", histogram_svg(field.chars, unit="chars",
                                                         color=CHARS_COLOR))
            + _chart(f"Tokens {per}", histogram_svg(field.tokens, unit="tokens",
                                                     color=TOKENS_COLOR))
            + "</div></article>")


def _chat_panel(name: str, chat: ChatProfile) -> str:
    facts = (f"{chat.conversations:,} conversations, {chat.messages:,} messages, "
             f"{chat.empty_messages:,} with blank content")
    role_rows = [(f"{role}: characters", s) for role, s in chat.role_chars.items()]
    role_rows += [(f"{role}: tokens", s) for role, s in chat.role_tokens.items()]
    return (f'<article class="panel"><h3>{_e(name)} <span class="badge">conversations'
            f'</span></h3><p class="sub">{facts}</p>'
            + _stats_table([("turns (messages)", chat.turns)])
            + '<div class="charts">'
            + _chart("Messages per conversation", histogram_svg(chat.turns, unit="messages",
                                                                 color=TURNS_COLOR))
            + _chart("Messages per role", bar_svg(list(chat.roles.items()), color=ROLES_COLOR,
                                                  total=chat.messages))
            + _chart("Role of the last message", bar_svg(list(chat.last_roles.items()),
                                                         color=ROLES_COLOR,
                                                         total=chat.conversations))
            + "</div><h3>Content length per role</h3>" + _stats_table(role_rows)
            + "</article>")


def _ngrams_panel(profile: Profile) -> str:
    names = {1: "Words", 2: "Bigrams", 3: "Trigrams"}
    blocks = []
    for n, grams in sorted(profile.top_ngrams.items()):
        peak = max((c for _, c in grams), default=1)
        rows = "".join(
            f'<tr><td class="g">{_e(gram)}</td><td><span class="bar" '
            f'style="width:{max(60 * c / peak, 2):.0f}px"></span>{c:,}</td></tr>'
            for gram, c in grams)
        blocks.append(f'<div><h3>{names.get(n, f"{n}-grams")}</h3><table>{rows}</table></div>'
                      if grams else f'<div><h3>{names.get(n, f"{n}-grams")}</h3>'
                      '<p class="muted">none</p></div>')
    return (f'<article class="panel"><p class="sub">Lowercase words of the first '
            f'{profile.ngram_texts:,} texts; stopwords left out.</p>'
            f'<div class="grams">{"".join(blocks)}</div></article>')


def _card(key: str, value: str, note: str = "") -> str:
    return (f'<div class="card"><div class="k">{key}</div><div class="v">{value}</div>'
            f'<div class="n">{note}</div></div>')


def render_html(profile: Profile, *, title: str) -> str:
    """The profile as one self-contained HTML page with inline SVG charts.

    Args:
        profile: the profile to show.
        title: the page title, e.g. the dataset reference (escaped like everything else).

    Returns:
        The HTML text: no script, no external resource, safe to open offline.
    """
    p = profile
    pii_total = sum(p.pii.values()) if p.pii is not None else None
    cards = [
        _card("Rows", f"{p.row_count:,}"),
        _card("Empty rows", f"{p.empty_rows:,}", _pct(p.empty_rows, p.row_count)),
        _card("Duplicate rows", f"{p.duplicate_rows:,}", _pct(p.duplicate_rows, p.row_count)),
        _card("Fields", f"{len(p.fields):,}"),
        _card("Chars per token",
              _num(p.chars_per_token) if p.chars_per_token is not None else "-",
              _e(p.tokenizer)),
        _card("PII findings", "not scanned" if pii_total is None else f"{pii_total:,}",
              "" if p.pii_rows is None else f"in {p.pii_rows:,} rows"),
    ]
    out = [f"<header><h1>{_e(title)}</h1><p class=\"sub\">Profile of a {_e(p.kind)} dataset"
           f" · tokens counted with {_e(p.tokenizer)}</p></header>"
           f'<section class="cards">{"".join(cards)}</section>']
    if p.row_count == 0:
        out.append('<p class="muted">The dataset has no rows.</p>')
    if p.fields:
        out.append("<h2>Fields</h2>")
        out += [_field_panel(name, f, p.row_count) for name, f in p.fields.items()]
    for name, chat in p.chat.items():
        out.append(f"<h2>Conversations: {_e(name)}</h2>" + _chat_panel(name, chat))
    if p.preference is not None and p.preference.pairs:
        pref = p.preference
        items = [("chosen longer", pref.chosen_longer), ("rejected longer", pref.rejected_longer),
                 ("same length", pref.same_length), ("identical", pref.identical)]
        out.append('<h2>Chosen against rejected</h2><article class="panel">'
                   f'<p class="sub">{pref.pairs:,} pairs, compared in characters</p>'
                   + bar_svg(items, color=PREFERENCE_COLOR, total=pref.pairs) + "</article>")
    out.append("<h2>PII</h2>")
    if p.pii is None:
        out.append('<article class="panel"><p class="muted">No PII scan was run.</p></article>')
    else:
        out.append(f'<article class="panel"><p class="sub">Findings by type; {p.pii_rows or 0:,}'
                   f" rows ({_pct(p.pii_rows or 0, p.row_count)}) have at least one.</p>"
                   + bar_svg(list(p.pii.items()), color=PII_COLOR) + "</article>")
    if p.top_ngrams:
        out.append("<h2>Top n-grams</h2>" + _ngrams_panel(p))
    out.append(f"<footer>llmops dataset profile, schema {p.schema_version}. Duplicates are "
               "exact (canonical JSON). Hover a bar for its count.</footer>")
    return page(title, "".join(out), css=CSS)
