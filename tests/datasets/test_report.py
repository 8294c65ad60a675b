"""The HTML profile report: one self-contained file, charts as SVG, data always escaped."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

from llmops.datasets.profile import LengthStats, Profile, profile_rows
from llmops.datasets.report import bar_svg, histogram_svg, render_html

XSS = "<script>alert(1)</script>"
ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "main", "header", "h1", "h2",
                "h3", "p", "section", "article", "div", "span", "table", "tr", "th", "td",
                "svg", "rect", "line", "text", "footer"}


@dataclass
class Finding:
    type: str


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs


def parse(page: str) -> Tags:
    parser = Tags()
    parser.feed(page)
    return parser


def sample_profile() -> Profile:
    rows = [
        {"messages": [{"role": "system", "content": "Be brief."},
                      {"role": "user", "content": "My mail is a@b.io"},
                      {"role": "assistant", "content": "Noted, thanks."}],
         "source": "forum"},
        {"messages": [{"role": "user", "content": "What is 2+2?"},
                      {"role": "assistant", "content": "4"}], "source": "docs"},
        {"messages": [{"role": "user", "content": "What is 2+2?"},
                      {"role": "assistant", "content": "4"}], "source": "docs"},
    ]
    return profile_rows(rows, "chat", pii_scan=lambda t: [Finding("email")] * t.count("@"))


def test_report_is_self_contained() -> None:
    page = render_html(sample_profile(), title="support-chats@v1")
    parsed = parse(page)
    assert page.startswith("<!doctype html>") and page.endswith("</html>")
    assert set(parsed.tags) <= ALLOWED_TAGS  # no script, img, link, iframe, object
    assert not [name for name, _ in parsed.attrs if name in {"src", "href", "srcset"}]
    assert "http://" not in page and "https://" not in page
    assert "url(" not in page and "@import" not in page and "<script" not in page


def test_report_has_the_charts_and_numbers() -> None:
    page = render_html(sample_profile(), title="support-chats@v1")
    # chars and tokens of 2 fields, turns, roles, last roles, PII
    assert page.count("<svg") == 8
    assert "Conversations: messages" in page
    assert ">3<" in page  # rows
    assert "email: 1 (" not in page and "email: 1</title>" in page
    assert "Top n-grams" in page and "<td class=\"g\">noted</td>" in page


def test_data_is_escaped_everywhere() -> None:
    rows = [{XSS: XSS, "messages": [{"role": XSS, "content": XSS}]}]
    profile = profile_rows(rows, "chat", pii_scan=lambda t: [Finding(XSS)])
    page = render_html(profile, title=XSS)
    assert XSS not in page
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert set(parse(page).tags) <= ALLOWED_TAGS


def test_histogram_has_one_bar_per_bin_with_exact_tooltips() -> None:
    profile = profile_rows([{"text": "x" * n} for n in (1, 2, 2, 3, 3, 3)], "text")
    svg = histogram_svg(profile.fields["text"].chars, unit="chars", color="#000")
    assert svg.count("<rect") == 3
    assert re.findall(r"<title>([^<]*)</title>", svg) == ["1 chars: 1", "2 chars: 2",
                                                          "3 chars: 3"]
    assert "p50 2.5" in svg and "p99 3" in svg


def test_empty_series_and_empty_dataset_render() -> None:
    assert "no values" in histogram_svg(LengthStats(), unit="chars", color="#000")
    assert "none" in bar_svg([], color="#000")
    page = render_html(profile_rows([], "text"), title="empty")
    assert "The dataset has no rows." in page
    assert "No PII scan was run." in page


def test_bar_labels_are_clipped_but_kept_whole_in_the_tooltip() -> None:
    label = "a-very-long-role-name-from-some-dataset"
    svg = bar_svg([(label, 3), ("user", 1)], color="#000", total=4)
    assert f"<title>{label}: 3 (75.0%)</title>" in svg
    assert "a-very-long-role-name…" in svg
