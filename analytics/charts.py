"""Server-side SVG charts (pygal) in the house colours: plain data in, an inline SVG string out.

No JavaScript: pygal's tooltip script is not loaded (``js=[]``) and its inline config script is
removed, so a chart is static SVG whose bars are links to the drill-down and whose native
``<title>`` tooltips need no script either. Every chart on the page also has its numbers in a
table, so nothing is only in the picture.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path

import pygal
from django.utils.safestring import SafeString, mark_safe
from pygal.style import Style

FONT = 'system-ui, -apple-system, "Segoe UI", sans-serif'
# static/css/app.css: --accent, --ok, --warn, --bad, then calmer companions for longer series.
COLOURS = (
    "#2f5bd3",
    "#1f8a4c",
    "#b26b00",
    "#c0392b",
    "#7b4fc9",
    "#138d90",
    "#5b6577",
    "#d4699a",
    "#8aa4ec",
    "#9ccf6f",
)
HOUSE_STYLE = Style(
    background="transparent",
    plot_background="#ffffff",
    foreground="#1c2330",
    foreground_strong="#1c2330",
    foreground_subtle="#5b6577",
    font_family=FONT,
    colors=COLOURS,
    value_colors=("#1c2330",),
    title_font_size=17,
    label_font_size=13,
    major_label_font_size=13,
    value_font_size=13,
    value_label_font_size=13,
    legend_font_size=13,
    tooltip_font_size=13,
    no_data_font_size=18,
    guide_stroke_color="#dde1e8",
    major_guide_stroke_color="#c9ced8",
    opacity=".92",
    opacity_hover="1",
    stroke_opacity="1",
    transition="0ms",
)
LINE_STYLE = copy.copy(HOUSE_STYLE)
LINE_STYLE.stroke_width = "3"
WIDTH, HEIGHT = 800, 320
PERCENT_TICKS = [0, 25, 50, 75, 100]
LEGEND_COLUMNS = 4
# pygal's own stylesheets plus ours; a file:// stylesheet gets the chart's id filled in.
CSS = ("file://style.css", "file://graph.css", f"file://{Path(__file__).with_name('chart.css')}")
_SCRIPT = re.compile(r"<script\b.*?</script>", re.DOTALL)


@dataclass(frozen=True)
class Point:
    value: float | None
    text: str = ""  # printed on the bar / point and used as its tooltip
    href: str = ""


@dataclass(frozen=True)
class Series:
    name: str
    points: list[Point]


def _config(title: str, **overrides) -> dict:
    return {
        "title": title,
        "style": HOUSE_STYLE,
        "css": CSS,
        "width": WIDTH,
        "height": HEIGHT,
        # width/height attributes: drawn at its size, shrunk (never blown up) by the page's CSS.
        "explicit_size": True,
        "js": [],
        "disable_xml_declaration": True,
        "no_data_text": "Nothing in this range",
        "legend_at_bottom": True,
        "truncate_legend": 30,
        "truncate_label": 30,
        "margin": 12,
        "spacing": 12,
        "print_labels": True,
        "print_zeroes": False,
        "print_values_position": "top",
        "include_x_axis": True,
        **overrides,
    }


def _legend(series: list[Series], margin: int = 12) -> dict:
    """Legend below the chart, up to four to a row.

    pygal 3.1 makes room for ``len // columns`` rows where it draws ``ceil(len / columns)``, so
    the last row would be cut off; the bottom margin makes up the difference.
    """
    if len(series) < 2:
        return {"show_legend": False}
    columns = min(len(series), LEGEND_COLUMNS)
    missing_rows = -(-len(series) // columns) - len(series) // columns
    row = 1.5 * max(HOUSE_STYLE.legend_font_size, 12)
    return {
        "show_legend": True,
        "legend_at_bottom_columns": columns,
        "margin_bottom": margin + round(missing_rows * row),
    }


def _value(point: Point) -> dict | None:
    if point.value is None:
        return None
    value: dict = {"value": point.value, "label": point.text, "tooltip": point.text}
    if point.href:
        value["xlink"] = {"href": point.href, "target": "_top"}
    return value


def _render(chart) -> SafeString:
    svg = chart.render(is_unicode=True)
    # pygal always embeds its config for the (not loaded) tooltip script; drop it: no scripts.
    # The SVG comes from pygal's XML serializer, which escapes every label, so it is safe HTML.
    return mark_safe(_SCRIPT.sub("", svg))


def _value_range(series: list[Series], percent: bool) -> tuple[float, float]:
    if percent:
        return (0, 100)
    top = max((p.value or 0 for s in series for p in s.points), default=0)
    # Room to the right of the longest bar for its printed label.
    return (0, max(1, top) * 1.4)


def horizontal_bars(
    *, title: str, labels: list[str], points: list[Point], percent: bool = False, width: int = WIDTH
) -> SafeString:
    """One bar per label, top to bottom in the order given, each labelled just past its end."""
    return grouped_horizontal_bars(
        title=title, labels=labels, series=[Series(title, points)], percent=percent, width=width
    )


def grouped_horizontal_bars(
    *, title: str, labels: list[str], series: list[Series], percent: bool = False, width: int = WIDTH
) -> SafeString:
    per_group = 30 * len(series) + 8
    height = max(160, min(640, 70 + (40 if len(series) > 1 else 0) + per_group * len(labels)))
    chart = pygal.HorizontalBar(
        **_config(
            title,
            width=width,
            height=height,
            **_legend(series),
            range=_value_range(series, percent),
            y_labels=PERCENT_TICKS if percent else None,
            # pygal puts the x_labels of horizontal bars bottom-up: reverse to read top-down.
            value_formatter=(lambda v: f"{v:.0f}%") if percent else (lambda v: f"{v:,.0f}"),
            margin_right=110 if percent else 12,
        )
    )
    chart.x_labels = list(reversed(labels))
    for s in series:
        chart.add(s.name, [_value(p) for p in reversed(s.points)])
    return _render(chart)


def vertical_bars(
    *,
    title: str,
    labels: list[str],
    series: list[Series],
    stacked: bool = False,
    y_title: str = "",
    width: int = WIDTH,
    height: int = HEIGHT,
) -> SafeString:
    kind = pygal.StackedBar if stacked else pygal.Bar
    legend_rows = -(-len(series) // LEGEND_COLUMNS) if len(series) > 1 else 0
    chart = kind(
        **_config(
            title,
            width=width,
            height=height + 26 * legend_rows,
            y_title=y_title or None,
            **_legend(series),
            x_label_rotation=-35 if len(labels) > 10 else 0,
            # Stacked segments are too thin for text; their numbers are in the tooltip and table.
            print_labels=not stacked,
            range=None if stacked else _value_range(series, False)[:1] + (None,),
            value_formatter=lambda v: f"{v:,.0f}" if float(v).is_integer() else f"{v:,.1f}",
        )
    )
    chart.x_labels = labels
    for s in series:
        chart.add(s.name, [_value(p) for p in s.points])
    return _render(chart)


def line(
    *, title: str, labels: list[str], series: list[Series], percent: bool = True, width: int = WIDTH
) -> SafeString:
    chart = pygal.Line(
        **_config(
            title,
            width=width,
            height=HEIGHT,
            style=LINE_STYLE,
            **_legend(series),
            range=(0, 100) if percent else None,
            y_labels=PERCENT_TICKS if percent else None,
            value_formatter=(lambda v: f"{v:.0f}%") if percent else (lambda v: f"{v:,.0f}"),
            dots_size=5,
            allow_interruptions=True,
            margin_right=36,
        )
    )
    chart.x_labels = labels
    for s in series:
        chart.add(s.name, [_value(p) for p in s.points])
    return _render(chart)
