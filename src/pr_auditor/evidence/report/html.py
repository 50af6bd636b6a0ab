"""``report.html``: one self-contained page (inline CSS, an inline-SVG chart, no script or font fetched), so
it opens offline and can be archived with the rest of the evidence. Needs the ``report`` extra.

PR titles are attacker-controlled: the template is rendered with autoescaping on, only http(s) URLs become
links, and the chart's words are buckets and ``<kind>: <code>`` names of the fixed vocabulary (anything else
is drawn as ``other``), its values counts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

import pygal
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup
from pygal.style import Style

CHART_ID = "findings-chart"
#: Series colours, one per kind and code (Tableau 10); pygal draws them at its default fill opacity.
CHART_COLOURS = (
    "#4e79a7",
    "#e15759",
    "#f28e2b",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
CHART_STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#333333",
    foreground_strong="#111111",
    foreground_subtle="#999999",
    colors=CHART_COLOURS,
    font_family="sans-serif",
)
_VOCABULARY = re.compile(r"[a-z_]{1,40}: [a-z_]{1,40}")
_UNIT_TITLE = {"day": "day", "week": "ISO week", "month": "month"}
#: Enum values as words for people (tiles, tables): ``non_compliant`` → ``non-compliant``.
_WORDS = {"non_compliant": "non-compliant", "first_seen": "first seen"}


def words(value: Any) -> str:
    """A record's enum value as words: ``non_compliant`` → ``non-compliant``, ``direct_push`` → ``direct push``."""
    text = str(value)
    return _WORDS.get(text, text.replace("_", " "))


def link(url: Any, text: Any = None) -> Markup:
    """``<a href=url>text</a>`` for an http(s) URL (both escaped); anything else (a ``javascript:`` URL in a
    forged record, say) is shown as text only."""
    shown = text if text else url or ""
    if isinstance(url, str) and url.startswith(("https://", "http://")):
        return Markup('<a href="{}">{}</a>').format(url, shown)
    return Markup("{}").format(shown)


def findings_chart(by_bucket: Mapping[str, Any]) -> Markup:
    """A stacked bar chart of the exceptions' findings per bucket, one series per ``<kind>: <code>`` (most
    frequent first), as an inline ``<svg>`` element.

    ``js=[]``: pygal would otherwise reference its tooltip script on a CDN; without it the chart is static.
    """
    buckets: Sequence[Mapping[str, Any]] = by_bucket["buckets"]
    series: dict[str, list[int]] = {}
    for index, bucket in enumerate(buckets):
        for name, count in bucket["findings"].items():
            label = name if _VOCABULARY.fullmatch(name) else "other"
            values = series.setdefault(label, [0] * len(buckets))
            values[index] += int(count)
    unit = str(by_bucket["unit"])
    chart = pygal.StackedBar(
        style=CHART_STYLE,
        js=[],
        disable_xml_declaration=True,
        width=960,
        height=380,
        legend_at_bottom=True,
        legend_at_bottom_columns=3,
        truncate_legend=-1,  # a series name is the finding: never cut it
        x_label_rotation=-45 if len(buckets) > 10 else 0,
        print_values=False,
        show_minor_x_labels=True,
        classes=["pygal-chart", CHART_ID],
        title=f"Findings per {_UNIT_TITLE.get(unit, unit)}, by kind of change and violation",
        no_data_text="no findings in the period",
    )
    chart.x_labels = [str(bucket["bucket"]) for bucket in buckets]
    for label, values in sorted(series.items(), key=lambda item: (-sum(item[1]), item[0])):
        chart.add(label, values)
    svg: str = chart.render(is_unicode=True)
    return Markup(svg)  # noqa: S704 - pygal's own SVG: buckets, vocabulary names and counts, escaped by its XML writer


def pretty(value: Any) -> str:
    """A policy (canonical, plain data) as indented JSON text for the page."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("pr_auditor.evidence.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters.update(words=words, link=link, pretty=pretty)
    return environment


def render_report(
    stream: TextIO,
    *,
    summary: Mapping[str, Any],
    exceptions: Iterable[Mapping[str, Any]],
    sample: Sequence[Mapping[str, Any]],
) -> None:
    """Write the page to ``stream``; ``exceptions`` is consumed lazily (it may be read back from disk)."""
    template = _environment().get_template("report.html.j2")
    context = {
        "summary": summary,
        "chart": findings_chart(summary["counts"]["by_bucket"]),
        "exceptions": exceptions,
        "sample": sample,
    }
    for chunk in template.generate(**context):
        stream.write(chunk)
