"""The closed-loop analytics page and the drill-down behind each of its numbers.

The view validates the filters, takes the figures from analytics/figures.py (cached a few
minutes, computed by the selectors' SQL, one query each) and hands their plain data to
charts.py. Every number on the page links to /analytics/leads/ with the same filters, where the
same WHERE clause lists the rows behind it.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from leads.api.permissions import require_roles

from . import charts, figures, selectors
from .charts import Point, Series
from .forms import AnalyticsFilterForm

CHART_ROWS = 12  # bars in a ranking chart; the table below it has them all
HALF = 520  # width of a chart in a two-column row (drawn 1:1, so text keeps its size)
COMPUTING_RELOAD_S = 2  # how often the "computing" page looks again


def _pct(rate: float | None) -> str:
    return "–" if rate is None else f"{rate:.0f}%"


class Links:
    """Drill-down URLs that carry the page's filters."""

    def __init__(self, filters: selectors.Filters):
        self.base = {"start": filters.start.isoformat(), "end": filters.end.isoformat()}
        if filters.source:
            self.base["source"] = filters.source
        self.url = reverse("analytics-leads")

    def __call__(self, figure: str, key, converted: bool = False) -> str:
        query = {"figure": figure, "key": str(key), **self.base}
        if converted:
            query["converted"] = "1"
        return f"{self.url}?{urlencode(query)}"


def _funnel(data: selectors.Funnel, link: Links) -> dict:
    steps = [{"step": s, "href": link("funnel", s.stage)} for s in data.steps]
    points = [
        Point(
            s.leads,
            f"{s.leads:,}"
            + ("" if s.rate_from_previous is None else f" · {_pct(s.rate_from_previous)} of previous"),
            link("funnel", s.stage),
        )
        for s in data.steps
    ]
    chart = charts.horizontal_bars(
        title="Funnel of the MQL cohort", labels=[s.label for s in data.steps], points=points
    )
    return {
        "data": data,
        "steps": steps,
        "chart": chart,
        "created_href": link("funnel", "created"),
        "promoted_href": link("funnel", "promoted"),
    }


def _conversion(rows: list[selectors.ConversionRow], by: str, link: Links, width: int) -> dict:
    shown = rows[:CHART_ROWS]
    chart = charts.horizontal_bars(
        title=f"MQL → SQL by {selectors.DIMENSION_TITLES[by]}",
        labels=[r.label for r in shown],
        points=[Point(r.rate or 0, f"{_pct(r.rate)} · {r.sql}/{r.leads}", link(by, r.key)) for r in shown],
        percent=True,
        width=width,
    )
    table = [{"row": r, "href": link(by, r.key), "sql_href": link(by, r.key, converted=True)} for r in rows]
    return {"by": by, "chart": chart, "rows": table, "shown": len(shown), "more": len(rows) > len(shown)}


def _stage_time(rows: list[selectors.StageTimeRow], link: Links) -> dict:
    shown = rows[:8]
    labels = [r.label for r in shown]
    chart = charts.grouped_horizontal_bars(
        title="Hours in stage before moving on",
        labels=labels,
        series=[
            Series(
                "Median",
                [Point(r.median_hours, f"{r.median_hours:,} h", link("stage_time", r.key)) for r in shown],
            ),
            Series(
                "90th percentile",
                [Point(r.p90_hours, f"{r.p90_hours:,} h", link("stage_time", r.key)) for r in shown],
            ),
        ],
    )
    return {"chart": chart, "rows": [{"row": r, "href": link("stage_time", r.key)} for r in rows]}


def _sla(rows: list[selectors.SlaRow], link: Links) -> dict:
    chart = charts.horizontal_bars(
        title="Hand-offs decided within the SLA, per SDR",
        labels=[r.username for r in rows],
        points=[
            Point(
                r.compliance or 0,
                f"{_pct(r.compliance)} · {r.on_time}/{r.decided} on time",
                link("sla", f"{r.username}:on_time"),
            )
            for r in rows
        ],
        percent=True,
    )
    table = [
        {"row": r, **{m: link("sla", f"{r.username}:{m}") for m in selectors.SLA_MEASURES}} for r in rows
    ]
    return {"chart": chart, "rows": table}


def _reasons(data: selectors.ReasonsOverTime, link: Links, title: str) -> dict:
    fmt = "%d %b" if data.bucket == "week" else "%b %Y"
    labels = [p.strftime(fmt) for p in data.periods]
    series = [
        Series(
            reason,
            [
                Point(
                    n or None,
                    f"{reason}: {n} ({label})",
                    link(data.kind, f"{reason}@{p.isoformat()}"),
                )
                for p, label, n in zip(data.periods, labels, data.series(reason), strict=True)
            ],
        )
        for reason in data.reasons
    ]
    chart = charts.vertical_bars(
        title=f"{title} per {data.bucket}", labels=labels, series=series, stacked=True, y_title="leads"
    )
    table = [
        {
            "reason": reason,
            "total": data.total(reason),
            "href": link(data.kind, reason),
            "cells": [
                {"n": n, "href": link(data.kind, f"{reason}@{p.isoformat()}")}
                for p, n in zip(data.periods, data.series(reason), strict=True)
            ],
        }
        for reason in data.reasons
    ]
    return {"data": data, "chart": chart, "labels": labels, "rows": table}


def _calibration(rows: list[selectors.BandRow], link: Links) -> dict:
    labels = [r.label for r in rows]
    rate_chart = charts.line(
        title="Conversion rate by score band",
        labels=labels,
        series=[
            Series(
                "Converted",
                [Point(r.rate, _pct(r.rate), link("calibration", r.band, converted=True)) for r in rows],
            )
        ],
    )
    count_chart = charts.vertical_bars(
        title="Leads with a verdict, by score band",
        labels=labels,
        series=[
            Series(
                "Leads", [Point(r.leads or None, f"{r.leads:,}", link("calibration", r.band)) for r in rows]
            )
        ],
        height=240,
    )
    table = [
        {"row": r, "href": link("calibration", r.band), "converted_href": link("calibration", r.band, True)}
        for r in rows
    ]
    return {"rate_chart": rate_chart, "count_chart": count_chart, "rows": table}


@login_required
def analytics_home(request):
    require_roles(request, "marketing", "sales")
    form = AnalyticsFilterForm(request.GET or None, sources=figures.sources())
    filters = form.filters()
    served = figures.page_figures(filters=filters)
    if served is None:  # a worker is computing this range: say so, and look again shortly
        return render(
            request,
            "analytics/computing.html",
            {"form": form, "filters": filters, "reload_s": COMPUTING_RELOAD_S},
        )
    data = served.figures
    cohort = data.cohort
    link = Links(filters)
    context = {
        "form": form,
        "filters": filters,
        "funnel": _funnel(cohort.funnel, link),
        "by_source": _conversion(cohort.by["source"], "source", link, HALF),
        "by_campaign": _conversion(cohort.by["campaign"], "campaign", link, HALF),
        "by_segment": _conversion(cohort.by["segment"], "segment", link, HALF),
        "by_grade": _conversion(cohort.by["grade"], "grade", link, HALF),
        "by_rule": _conversion(cohort.by["rule"], "rule", link, charts.WIDTH),
        "stage_time": _stage_time(data.stage_time, link),
        "sla": _sla(data.sla, link),
        "rejections": _reasons(data.rejections, link, "Rejections by SDRs"),
        "disqualifications": _reasons(data.disqualifications, link, "Disqualifications and losses"),
        "calibration": _calibration(data.calibration, link),
        "served": served,
        "fresh_minutes": int(figures.FRESH_FOR.total_seconds() // 60),
    }
    return render(request, "analytics/home.html", context)


@login_required
@require_POST
def analytics_refresh(request):
    """The Refresh button: recompute the figures of these filters now, then show them."""
    require_roles(request, "marketing", "sales")
    form = AnalyticsFilterForm(request.POST, sources=figures.sources())
    filters = form.filters()
    figures.refresh(filters)
    query = {"start": filters.start.isoformat(), "end": filters.end.isoformat()}
    if filters.source:
        query["source"] = filters.source
    return redirect(f"{reverse('analytics')}?{urlencode(query)}")


@login_required
def analytics_leads(request):
    require_roles(request, "marketing", "sales")
    form = AnalyticsFilterForm(request.GET, sources=())
    # The source is not re-validated against the list here: a link carries what the page used.
    form.fields["source"].choices = [("", "Any source"), (request.GET.get("source", ""),) * 2]
    filters = form.filters()
    try:
        page = max(1, int(request.GET.get("page", 1)))
    except ValueError:
        page = 1
    figure, key = request.GET.get("figure", ""), request.GET.get("key", "")
    try:
        with selectors.reading():
            result = selectors.drill_down(
                figure=figure,
                key=key,
                filters=filters,
                converted=request.GET.get("converted") == "1",
                page=page,
            )
    except selectors.UnknownFigure as exc:
        raise Http404("There is no such figure on the analytics page.") from exc
    query = request.GET.copy()
    query.pop("page", None)
    back = {k: v for k, v in query.items() if k in ("start", "end", "source")}
    return render(
        request,
        "analytics/leads.html",
        {
            "result": result,
            "filters": filters,
            "form": form,
            "query": query.urlencode(),
            "back": f"{reverse('analytics')}?{urlencode(back)}",
            "first": (page - 1) * selectors.PAGE_SIZE + 1,
            "last": (page - 1) * selectors.PAGE_SIZE + len(result.rows),
        },
    )
