"""What the self-contained HTML reports share (dataset profiles, evaluation comparisons):
the page shell, the base styles and escaping.

A page has inline styles and inline SVG only: no script, no font, no URL of any kind, so
it opens offline and can be mailed as it is. Data strings are untrusted: escape them.
"""

from __future__ import annotations

import html

BASE_CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f4f5f8;color:#1d2433;
  font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1080px;margin:0 auto;padding:28px 24px 48px}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:18px;margin:32px 0 12px;padding-bottom:6px;border-bottom:1px solid #dde1ea}
h3{font-size:15px;margin:0 0 10px;display:flex;gap:8px;align-items:center}
.sub{color:#5b6478;margin:0}
.panel .sub{margin:0 0 8px}
.card{background:#fff;border-radius:10px;padding:14px 16px;box-shadow:0 1px 2px #0000001a}
.card .k{color:#5b6478;font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .n{color:#5b6478;font-size:12px}
.charts{display:flex;flex-wrap:wrap;gap:18px}
.chart{flex:1 1 440px;min-width:0}
.chart .cap{font-size:12px;color:#5b6478;margin:0 0 2px}
svg{display:block;max-width:100%;height:auto}
svg text{font:11px system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;fill:#5b6478}
table{border-collapse:collapse;font-variant-numeric:tabular-nums;margin:0 0 12px}
th,td{padding:4px 10px;text-align:right;border-bottom:1px solid #eef0f4;white-space:nowrap}
th:first-child,td:first-child{text-align:left}
th{font-weight:600;color:#5b6478;font-size:12px}
.muted{color:#7b8497}
footer{margin-top:36px;color:#7b8497;font-size:12px}
"""


def escape(value: object) -> str:
    return html.escape(str(value), quote=True)


def page(title: str, body: str, *, css: str = "") -> str:
    """A whole document: `title` (escaped here), the base styles plus `css`, `body`."""
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{escape(title)}</title><style>{BASE_CSS}{css}</style></head><body>"
            f"<main>{body}</main></body></html>")
