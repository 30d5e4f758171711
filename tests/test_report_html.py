"""The report page (``report.html``): missing values, wide tables, and valid HTML.

The page is checked by a strict checker built on the standard library's ``html.parser``
(always run: every element closed in order, no stray or unknown end tag, table parts only
where the HTML content model allows them, images with ``alt``, a doctype, a language, a
title and a character set), and, where html5lib is installed (the ``test`` extra), by
html5lib's parser in strict mode, which raises on any parse error of the HTML5 algorithm.
The checker is itself tested on broken pages, so that it can fail.
"""

from __future__ import annotations

import datetime as dt
import math
from html.parser import HTMLParser

import polars as pl
import pytest

from loyaltymetrics import datasets
from loyaltymetrics._report import (
    ColumnNames,
    _html_table,
    build_report,
    figures,
    sample_survey,
    to_html,
)

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}
# where a table part may stand (HTML Living Standard, "tables" content models)
PARENTS = {
    "thead": {"table"},
    "tbody": {"table"},
    "tfoot": {"table"},
    "tr": {"thead", "tbody", "tfoot"},
    "td": {"tr"},
    "th": {"tr"},
    "caption": {"table"},
    "head": {"html"},
    "body": {"html"},
    "title": {"head"},
    "meta": {"head"},
    "style": {"head"},
}
KNOWN = VOID | set(PARENTS) | {"html", "table", "div", "h1", "h2", "h3", "p", "span", "strong"}
# elements that may not hold a block (a <p> holding a <div> or <table> is closed early by
# a browser, and the rest of the page then nests differently from the source)
PHRASING_ONLY = {"p", "h1", "h2", "h3", "span", "strong", "th", "caption", "title"}
BLOCK = {"div", "table", "p", "h1", "h2", "h3"}


class StrictChecker(HTMLParser):
    """Collect every structural error of a page (an empty list: the page is well formed)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.errors: list[str] = []
        self.stack: list[str] = []
        self.seen: set[str] = set()
        self.doctype = False
        self.started = False
        self.ids: set[str] = set()

    def handle_decl(self, decl: str) -> None:
        if self.started:
            self.errors.append("doctype after the first element")
        self.doctype = decl.lower() == "doctype html"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.started = True
        self.seen.add(tag)
        names = [name for name, _ in attrs]
        if len(names) != len(set(names)):
            self.errors.append(f"<{tag}> repeats an attribute: {names}")
        values = dict(attrs)
        if tag not in KNOWN:
            self.errors.append(f"unexpected element <{tag}>")
        parent = self.stack[-1] if self.stack else None
        if tag in PARENTS and parent not in PARENTS[tag]:
            self.errors.append(f"<{tag}> inside <{parent}>")
        if parent == "table" and tag not in {"thead", "tbody", "tfoot", "caption"}:
            self.errors.append(f"<{tag}> directly inside <table>")
        if parent in {"thead", "tbody", "tfoot"} and tag != "tr":
            self.errors.append(f"<{tag}> directly inside <{parent}>")
        if parent == "tr" and tag not in {"td", "th"}:
            self.errors.append(f"<{tag}> directly inside <tr>")
        if tag in BLOCK and any(open_ in PHRASING_ONLY for open_ in self.stack):
            self.errors.append(f"block <{tag}> inside {self.stack}")
        if tag == "html" and not values.get("lang"):
            self.errors.append("<html> without lang")
        if tag == "img" and not values.get("alt"):
            self.errors.append("<img> without alt text")
        if "id" in values:
            if values["id"] in self.ids:
                self.errors.append(f"duplicate id {values['id']!r}")
            self.ids.add(str(values["id"]))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in VOID:
            self.errors.append(f"self-closing non-void element <{tag}/>")
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            self.errors.append(f"end tag of void element </{tag}>")
        elif not self.stack:
            self.errors.append(f"stray </{tag}> after the document")
        elif self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1]}> (open: {self.stack})")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1] in {"table", "thead", "tbody", "tr"} and data.strip():
            self.errors.append(f"text {data.strip()[:20]!r} directly inside <{self.stack[-1]}>")

    def check(self, page: str) -> list[str]:
        self.feed(page)
        self.close()
        if not self.doctype:
            self.errors.append("no <!DOCTYPE html> first")
        if self.stack:
            self.errors.append(f"unclosed elements at the end: {self.stack}")
        for required in ("html", "head", "title", "meta", "body"):
            if required not in self.seen:
                self.errors.append(f"no <{required}>")
        return self.errors


def check_page(page: str) -> list[str]:
    return StrictChecker().check(page)


GOOD = (
    "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>t</title></head>"
    "<body><h1>t</h1><div><table><thead><tr><th>a</th></tr></thead>"
    "<tbody><tr><td>1</td></tr></tbody></table></div><img alt='x' src='a.png'></body></html>"
)


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (GOOD.replace("</div>", ""), "closes <div>"),
        (GOOD.replace("</td>", ""), "closes <td>"),
        (GOOD.replace("</body>", "</p></body>"), "</p> closes <body>"),
        (GOOD.replace("<tbody>", "").replace("</tbody>", ""), "<tr> inside <table>"),
        (GOOD.replace("<tr><td>1</td></tr>", "<td>1</td>"), "<td> inside <tbody>"),
        (GOOD.replace("<h1>t</h1>", "<p><div></div></p>"), "block <div> inside"),
        (GOOD.replace(" alt='x'", ""), "<img> without alt"),
        (GOOD.replace(" lang='en'", ""), "<html> without lang"),
        (GOOD.replace("<!DOCTYPE html>", ""), "no <!DOCTYPE html>"),
        (GOOD.replace("<title>t</title>", ""), "no <title>"),
        (GOOD.replace("<h1>t</h1>", "<h1>t</h1><blink>x</blink>"), "unexpected element"),
        (GOOD.replace("<tbody><tr>", "<tbody>x<tr>"), "directly inside <tbody>"),
        (GOOD.replace("</html>", ""), "unclosed elements"),
    ],
)
def test_checker_catches_broken_pages(broken: str, message: str) -> None:
    assert check_page(GOOD) == []
    errors = check_page(broken)
    assert any(message in e for e in errors), errors


@pytest.fixture(scope="module")
def page() -> str:
    """The report page of 300 CDNOW customers with a survey and the figures."""
    log = datasets.load_cdnow()
    keep = log.get_column("customer_id").unique().sort().head(300)
    small = log.filter(pl.col("customer_id").is_in(keep.implode()))
    survey = sample_survey(keep, n=150)
    report = build_report(
        small,
        ColumnNames(),
        survey=survey,
        survey_by="channel",
        survey_metrics={"nps": "nps", "csat": "csat", "ces": "ces"},
        period="1mo",
    )
    pytest.importorskip("matplotlib")
    return to_html(report, figures(report), title="Loyalty report: test <&> sample")


def test_report_page_passes_the_strict_checker(page: str) -> None:
    assert check_page(page) == []


def test_report_page_passes_html5lib_in_strict_mode(page: str) -> None:
    html5lib = pytest.importorskip("html5lib", reason="html5lib is in the test extra")
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    tree = parser.parse(page)  # raises html5lib.html5parser.ParseError on any parse error
    assert parser.errors == []
    assert len(tree.findall(".//table")) >= 6


def test_nulls_and_nan_show_as_a_dash(page: str) -> None:
    # the first period has no base to retain, so the periods table holds nulls
    assert "<td>–</td>" in page
    for word in ("None", "nan", "NaN", "null"):
        assert f">{word}<" not in page
    table = pl.DataFrame(
        {
            "a": [1.5, None, math.nan],
            "b": ["x", None, "<y>"],
            "c": [dt.date(2024, 1, 2), None, None],
        }
    )

    cells = _html_table(table).split("<td>")[1:]
    assert [c.split("</td>")[0] for c in cells] == [
        "1.5", "x", "2024-01-02", "–", "–", "–", "–", "&lt;y&gt;", "–",
    ]  # fmt: skip


def test_every_table_scrolls_in_its_own_box(page: str) -> None:
    n_tables = page.count("<table")
    assert n_tables >= 6
    assert page.count('<div class="table-scroll" tabindex="0"><table>') == n_tables
    style = page.split("<style>")[1].split("</style>")[0]
    assert ".table-scroll{overflow-x:auto" in style
    # the page itself keeps its width: the body is capped and images shrink to fit
    assert "max-width:1100px" in style
    assert "img{max-width:100%}" in style


def test_title_is_escaped(page: str) -> None:
    assert "<title>Loyalty report: test &lt;&amp;&gt; sample</title>" in page
