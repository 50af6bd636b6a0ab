"""``report.html``: one self-contained page (inline CSS, an inline-SVG chart, no script or font fetched), so
it opens offline and can be archived with the rest of the evidence. Needs the ``report`` extra.

PR titles are attacker-controlled: the template is rendered with autoescaping on, and nothing from a
record reaches the chart (its labels are ISO weeks, its values counts).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

import pygal
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup
from pygal.style import Style

CHART_ID = "weekly-chart"
#: Series colours (changes blue, exceptions red); pygal draws them at its default fill opacity.
CHART_STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#333333",
    foreground_strong="#111111",
    foreground_subtle="#999999",
    colors=("#4e79a7", "#e15759"),
    font_family="sans-serif",
)


def weekly_chart(weeks: Sequence[Mapping[str, Any]]) -> Markup:
    """A bar chart of changes and exceptions per ISO week, as an inline ``<svg>`` element.

    ``js=[]``: pygal would otherwise reference its tooltip script on a CDN; without it the chart is static.
    """
    chart = pygal.Bar(
        style=CHART_STYLE,
        js=[],
        disable_xml_declaration=True,
        width=960,
        height=340,
        legend_at_bottom=True,
        x_label_rotation=-45 if len(weeks) > 8 else 0,
        print_values=False,
        show_minor_x_labels=True,
        classes=["pygal-chart", CHART_ID],
        title="Changes and exceptions per ISO week",
    )
    chart.x_labels = [str(week["week"]) for week in weeks]
    chart.add("changes", [int(week["changes"]) for week in weeks])
    chart.add("exceptions", [int(week["exceptions"]) for week in weeks])
    svg: str = chart.render(is_unicode=True)
    return Markup(svg)  # noqa: S704 - pygal's own SVG: counts and week labels only, text escaped by its XML writer


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("pr_auditor.evidence.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


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
        "chart": weekly_chart(summary["counts"]["by_week"]),
        "exceptions": exceptions,
        "sample": sample,
    }
    for chunk in template.generate(**context):
        stream.write(chunk)
