"""Closed-loop analytics: every figure is one SQL query, and every drill-down reuses its WHERE.

Each figure is built from a FROM/WHERE fragment (a ``_*_from`` function). The figure aggregates
over it; its drill-down selects ``lead_id, at, info`` rows from the very same fragment, so the
list behind a number always has exactly that many rows (tests/analytics/test_drilldown.py holds
that true). No Python loop ever runs over leads: the database does the counting.

The queries are written for indexes: StageChange ``(to_stage, created_at)`` finds the changes in
a date range (a range over "any stage" is spelled ``to_stage = ANY(all stages)`` so PostgreSQL
can still use it), ``(lead, created_at)`` finds one lead's history, and assignments are found by
``assigned_at``. analytics/migrations/0001 adds covering versions of the first two (index-only
scans on the append-only audit trail) and the third; the queries work without them, slower.

Known limits, stated on the page as well: segment, campaign, fit grade and scoring rules are the
lead's *current* values (the audit trail does not keep a copy of them at MQL time); calibration
uses the score the lead had when its first verdict of the range came in (from the score ledger),
or its current score when the ledger has nothing older.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from handoff.models import Assignment, StageChange
from leads.models import Company, Lead, Outcome
from leads.vocabulary import Stage
from scoring.models import ScoreChange
from scoring.selectors import rule_labels

LEAD = Lead._meta.db_table
COMPANY = Company._meta.db_table
OUTCOME = Outcome._meta.db_table
STAGE_CHANGE = StageChange._meta.db_table
ASSIGNMENT = Assignment._meta.db_table
SCORE_CHANGE = ScoreChange._meta.db_table
USER = get_user_model()._meta.db_table

FUNNEL_STAGES = ("mql", "sal", "sql", "opportunity", "customer")
ALL_STAGES = [s.value for s in Stage]
SUCCESS_PATH = ("lead", "mql", "sal", "sql", "opportunity", "customer")
NONE = "(none)"  # the key and label of an empty source, campaign or reason

PAGE_SIZE = 50


class UnknownFigure(ValueError):
    """A drill-down for a figure or key that does not exist."""


@dataclass(frozen=True)
class Filters:
    """The date range (both days included, in the site's time zone) and an optional source."""

    start: dt.date
    end: dt.date
    source: str = ""

    def params(self) -> dict[str, Any]:
        tz = timezone.get_current_timezone()
        return {
            "start": dt.datetime.combine(self.start, dt.time.min, tzinfo=tz),
            "end": dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time.min, tzinfo=tz),
            "source": self.source,
            "stages": ALL_STAGES,
            "tz": str(tz),
            "bucket": self.bucket,
            "now": timezone.now(),
        }

    @property
    def bucket(self) -> str:
        # Weekly bars stay readable up to half a year; longer ranges are shown per month.
        return "week" if (self.end - self.start).days <= 182 else "month"


@contextmanager
def reading() -> Iterator[None]:
    """One transaction for a page's figures (they all see the same snapshot), tuned for reports.

    JIT compilation costs PostgreSQL 100-200 ms per query of this size and saves less than that
    here, so it is off; a little more sort memory keeps the percentiles of a long range in RAM.
    Both settings end with the transaction.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off; SET LOCAL work_mem = '32MB'")
        yield


def _source(filters: Filters, alias: str = "l") -> str:
    return f"AND {alias}.source = %(source)s" if filters.source else ""


def _rows(sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [c.name for c in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _rate(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _hours(value) -> float | None:
    return None if value is None else round(float(value), 1)


# --------------------------------------------------------------------------------------------
# The MQL cohort and how far each of its leads got
# --------------------------------------------------------------------------------------------


def _journey_cte(filters: Filters, *, rules: bool = True, lead: bool = True) -> str:
    """`journey`: one row per lead that became an MQL in the range, with the stages it reached.

    "Became an MQL" is a change *into* mql: the hand-off (mql → mql) is not a new MQL. A lead
    that became an MQL twice in the range counts once, from its first time; "reached" means any
    change to that stage at or after that moment. `rules=False` leaves out the scoring rules (the
    drill-downs that do not need them skip reading ~3 KB of explanation per lead); `lead=False`
    leaves out the lead's columns, and then, without a source filter, the lead table altogether
    (every change has its lead: the foreign key cascades), which is most of a funnel drill-down.
    """
    rules_column = "(l.score_explanation -> 'engagement' -> 'rules')::jsonb" if rules else "NULL::jsonb"
    lead_columns = "l.source, l.utm_campaign, l.fit_grade, l.company_id," if lead else ""
    lead_join = f"JOIN {LEAD} l ON l.id = c.lead_id {_source(filters)}" if lead or filters.source else ""
    return f"""
    cohort AS (
        SELECT sc.lead_id, MIN(sc.created_at) AS mql_at
        FROM {STAGE_CHANGE} sc
        WHERE sc.to_stage = 'mql' AND sc.from_stage <> 'mql'
          AND sc.created_at >= %(start)s AND sc.created_at < %(end)s
        GROUP BY sc.lead_id
    ),
    reached AS (
        -- The later changes are found by stage and time through the index, then matched to the
        -- cohort in one hash join: at 50,000 MQLs that beats one index probe per lead tenfold.
        -- (x.created_at >= start follows from >= mql_at; it is there for the index.)
        SELECT c.lead_id,
               bool_or(x.to_stage = 'sal') AS r_sal,
               bool_or(x.to_stage = 'sql') AS r_sql,
               bool_or(x.to_stage = 'opportunity') AS r_opportunity,
               bool_or(x.to_stage = 'customer') AS r_customer
        FROM cohort c
        JOIN {STAGE_CHANGE} x ON x.lead_id = c.lead_id AND x.created_at >= c.mql_at
        WHERE x.to_stage IN ('sal', 'sql', 'opportunity', 'customer') AND x.created_at >= %(start)s
        GROUP BY c.lead_id
    ),
    journey AS MATERIALIZED (  -- read twice by the cohort query; also a fence for the JSON
        SELECT c.lead_id, c.mql_at, {lead_columns}
               {rules_column} AS rules,
               COALESCE(r.r_sal, false) AS reached_sal,
               COALESCE(r.r_sql, false) AS reached_sql,
               COALESCE(r.r_opportunity, false) AS reached_opportunity,
               COALESCE(r.r_customer, false) AS reached_customer
        FROM cohort c
        {lead_join}
        LEFT JOIN reached r ON r.lead_id = c.lead_id
    )"""


def _created_from(filters: Filters) -> str:
    return f"FROM {LEAD} l WHERE l.created_at >= %(start)s AND l.created_at < %(end)s {_source(filters)}"


# Became an MQL since the range began (a lead created in the range cannot have done so before;
# the bound lets the (to_stage, created_at) index find the promotions instead of reading all).
_PROMOTED = f"""EXISTS (
    SELECT 1 FROM {STAGE_CHANGE} p
    WHERE p.lead_id = l.id AND p.to_stage = 'mql' AND p.from_stage <> 'mql' AND p.created_at >= %(start)s)"""


@dataclass(frozen=True)
class FunnelStep:
    stage: str
    label: str
    leads: int
    rate_from_previous: float | None
    rate_overall: float | None


@dataclass(frozen=True)
class Funnel:
    created: int
    promoted: int
    steps: list[FunnelStep]

    @property
    def promoted_rate(self) -> float | None:
        return _rate(self.promoted, self.created)

    def count(self, stage: str) -> int:
        return next(s.leads for s in self.steps if s.stage == stage)


def _funnel_from(row: dict[str, Any], created: int, promoted: int) -> Funnel:
    steps, previous, first = [], None, row["mql"]
    for stage in FUNNEL_STAGES:
        n = row[stage]
        steps.append(
            FunnelStep(
                stage=stage,
                label=Stage(stage).label,
                leads=n,
                rate_from_previous=None if previous is None else _rate(n, previous),
                rate_overall=None if previous is None else _rate(n, first),
            )
        )
        previous = n
    return Funnel(created=created, promoted=promoted, steps=steps)


@dataclass(frozen=True)
class CohortFigures:
    funnel: Funnel
    by: dict[str, list[ConversionRow]]


def cohort_figures(*, filters: Filters) -> CohortFigures:
    """The funnel and MQL → SQL by source, campaign, segment, fit grade and scoring rule.

    One query: the cohort is found once (`journey` is materialized), GROUPING SETS counts the
    funnel and the four dimensions over it, and the rules are counted from the same rows. Each
    drill-down selects from the same `journey` with the same expressions.
    """
    created_from = _created_from(filters)
    keys = {by: f"{by}_key" for by in DIMENSIONS}
    reached = ", ".join(f"COUNT(*) FILTER (WHERE d.reached_{s}) AS {s}" for s in FUNNEL_STAGES[1:])
    which = " ".join(f"WHEN GROUPING({key}) = 0 THEN '{by}'" for by, key in keys.items())
    rows = _rows(
        f"""WITH {_journey_cte(filters)},
        dims AS (
            SELECT j.*, {", ".join(f"{DIMENSIONS[by]} AS {key}" for by, key in keys.items())}
            FROM journey j LEFT JOIN {COMPANY} co ON co.id = j.company_id
        )
        SELECT CASE {which} ELSE 'total' END AS dimension,
               COALESCE({", ".join(keys.values())}) AS key, NULL AS label,
               COUNT(*) AS mql, {reached},
               (SELECT COUNT(*) {created_from}) AS created,
               (SELECT COUNT(*) {created_from} AND {_PROMOTED}) AS promoted
        FROM dims d
        GROUP BY GROUPING SETS ((), {", ".join(f"({key})" for key in keys.values())})
        UNION ALL
        SELECT 'rule', r.key, MAX(r.label), COUNT(*), NULL, COUNT(*) FILTER (WHERE j.reached_sql),
               NULL, NULL, NULL, NULL
        FROM dims j
        -- Each lead's rules made distinct inside its own explanation (in case one lists a rule
        -- twice), so the count per rule is a plain hash aggregate: COUNT(DISTINCT lead_id)
        -- sorted every rule row with its JSON, on disk at 80,000 MQLs.
        CROSS JOIN LATERAL (
            SELECT {_RULE_KEY} ->> 0 AS key, MAX(rule ->> 'label') AS label
            FROM jsonb_array_elements({_RULE_ARRAY}) rule
            WHERE {_GIVES_POINTS}
            GROUP BY 1
        ) r
        GROUP BY 2""",
        filters.params(),
    )
    by: dict[str, list[ConversionRow]] = {dimension: [] for dimension in DIMENSION_TITLES}
    total = {"mql": 0, "created": 0, "promoted": 0, **dict.fromkeys(FUNNEL_STAGES[1:], 0)}
    labels = _LazyRuleLabels()
    for r in rows:
        if r["dimension"] == "total":
            total = r
        else:
            by[r["dimension"]].append(
                ConversionRow(
                    key=r["key"], label=_label(r["dimension"], r, labels), leads=r["mql"], sql=r["sql"]
                )
            )
    return CohortFigures(
        funnel=_funnel_from(total, total["created"], total["promoted"]),
        by={dimension: _ordered(dimension, found) for dimension, found in by.items()},
    )


def funnel(*, filters: Filters) -> Funnel:
    return cohort_figures(filters=filters).funnel


def _funnel_drill(filters: Filters, key: str, converted: bool) -> tuple[str, dict, str]:
    created = f"SELECT l.id AS lead_id, l.created_at AS at, 'created' AS info {_created_from(filters)}"
    if key == "created":
        return created, {}, "Leads created in the range"
    if key == "promoted":
        return f"{created} AND {_PROMOTED}", {}, "Leads created in the range that became an MQL"
    if key not in FUNNEL_STAGES:
        raise UnknownFigure(key)
    where = "TRUE" if key == "mql" else f"j.reached_{key}"
    sql = f"""WITH {_journey_cte(filters, rules=False, lead=False)}
        SELECT j.lead_id, j.mql_at AS at, 'became MQL' AS info FROM journey j WHERE {where}"""
    label = "MQLs of the range" if key == "mql" else f"MQLs of the range that reached {Stage(key).label}"
    return sql, {}, label


# --------------------------------------------------------------------------------------------
# MQL → SQL conversion by source, campaign, segment, fit grade and scoring rule
# --------------------------------------------------------------------------------------------

SEGMENT_LABELS = {
    "smb": "SMB (<100)",
    "mid_market": "Mid-market (100–999)",
    "enterprise": "Enterprise (1000+)",
    "unknown": "Unknown size",
}
_SEGMENT = """CASE WHEN co.employee_count IS NULL THEN 'unknown'
    WHEN co.employee_count < 100 THEN 'smb'
    WHEN co.employee_count < 1000 THEN 'mid_market'
    ELSE 'enterprise' END"""
DIMENSIONS = {
    "source": f"COALESCE(NULLIF(j.source, ''), '{NONE}')",
    "campaign": f"COALESCE(NULLIF(j.utm_campaign, ''), '{NONE}')",
    "segment": _SEGMENT,
    "grade": "j.fit_grade",
}
DIMENSION_TITLES = {
    "source": "source",
    "campaign": "campaign",
    "segment": "ICP segment",
    "grade": "fit grade",
    "rule": "scoring rule",
}
_SEGMENT_ORDER = list(SEGMENT_LABELS)
_GRADE_ORDER = ["A", "B", "C", "D", "F"]
MAX_GROUPS = 100  # a campaign list can be long; the table shows the largest hundred


def _dimension_query(filters: Filters, select: str) -> str:
    return f"""WITH {_journey_cte(filters, rules=False)}
        SELECT {select}
        FROM journey j LEFT JOIN {COMPANY} co ON co.id = j.company_id"""


# The rules that earned a journey's lead points, from its stored explanation; anything malformed
# counts as no rules rather than failing the page. Expanded per cohort row (`j.rules`), never
# for the whole lead table.
_RULE_ARRAY = "CASE WHEN jsonb_typeof(j.rules) = 'array' THEN j.rules ELSE '[]'::jsonb END"
# A rule is an object (explanations stored before the compact form) or an array [key, units,
# raw_points, decayed_points, points, ...] (engine.ScoreResult.stored_explanation); `->` of a
# key on an array, or of a position on an object, is NULL. Wrapped in an array so `->> 0` reads
# the key as text whichever form it came from.
_RULE_KEY = "jsonb_build_array(COALESCE(rule -> 'key', rule -> 0))"
_RULE_POINTS = "COALESCE(rule -> 'points', rule -> 4)"
_GIVES_POINTS = f"""jsonb_typeof(COALESCE(rule -> 'key', rule -> 0)) = 'string'
      AND (CASE WHEN jsonb_typeof({_RULE_POINTS}) = 'number'
                THEN ({_RULE_POINTS} #>> '{{}}')::numeric ELSE 0 END) > 0"""
_RULES = f"""CROSS JOIN LATERAL jsonb_array_elements({_RULE_ARRAY}) rule
    WHERE {_GIVES_POINTS}"""


def _rule_query(filters: Filters, select: str) -> str:
    return f"""WITH {_journey_cte(filters)}
        SELECT {select}
        FROM journey j
        {_RULES}"""


@dataclass(frozen=True)
class ConversionRow:
    key: str
    label: str
    leads: int
    sql: int

    @property
    def rate(self) -> float | None:
        return _rate(self.sql, self.leads)


class _LazyRuleLabels:
    """scoring.selectors.rule_labels(), read once and only if some rule row has no label."""

    def __init__(self) -> None:
        self._labels: dict[str, str] | None = None

    def get(self, key: str) -> str | None:
        if self._labels is None:
            self._labels = rule_labels()
        return self._labels.get(key)


def _label(by: str, row: dict[str, Any], rules: _LazyRuleLabels) -> str:
    if by == "rule":
        # Compact explanations carry no labels: the words of the models that scored the leads.
        return row.get("label") or rules.get(row["key"]) or row["key"]
    if by == "segment":
        return SEGMENT_LABELS[row["key"]]
    return row["key"]


def _ordered(by: str, rows: list[ConversionRow]) -> list[ConversionRow]:
    # Segments and grades read best in their natural order; the rest biggest first.
    if by == "segment":
        return sorted(rows, key=lambda r: _SEGMENT_ORDER.index(r.key))
    if by == "grade":
        return sorted(rows, key=lambda r: (_GRADE_ORDER.index(r.key) if r.key in _GRADE_ORDER else 99, r.key))
    return sorted(rows, key=lambda r: (-r.leads, r.key))[:MAX_GROUPS]


def conversion(*, filters: Filters, by: str) -> list[ConversionRow]:
    """MQL → SQL conversion of the cohort by one dimension (computed with the funnel)."""
    if by not in DIMENSION_TITLES:
        raise UnknownFigure(by)
    return cohort_figures(filters=filters).by[by]


def _conversion_drill(by: str):
    def build(filters: Filters, key: str, converted: bool) -> tuple[str, dict, str]:
        and_sql = " AND j.reached_sql" if converted else ""
        if by == "rule":
            # DISTINCT in case an explanation ever lists a rule twice (the figure counts leads).
            select = "DISTINCT j.lead_id, j.mql_at AS at, 'became MQL' AS info"
            sql = _rule_query(filters, select) + f" AND {_RULE_KEY} ->> 0 = %(key)s{and_sql}"
        else:
            select = "j.lead_id, j.mql_at AS at, 'became MQL' AS info"
            sql = _dimension_query(filters, select) + f" WHERE {DIMENSIONS[by]} = %(key)s{and_sql}"
        label = f"MQLs of the range with {DIMENSION_TITLES[by]} {key}"
        return sql, {"key": key}, label + (" that reached SQL" if converted else "")

    return build


# --------------------------------------------------------------------------------------------
# Time in stage
# --------------------------------------------------------------------------------------------


def _stays_cte(filters: Filters) -> str:
    """`stays`: each time a lead entered a stage, with the next stage and when it moved on.

    Consecutive changes of one lead, paired with LEAD(); the hand-off (mql → mql) is not a
    change of stage, so an MQL's stay runs from promotion to acceptance, hand-off included.
    Only leads with a change in the range are read, through the (to_stage, created_at) index.
    """
    source_join = f"JOIN {LEAD} l ON l.id = sc.lead_id {_source(filters)}" if filters.source else ""
    return f"""
    touched AS (
        SELECT DISTINCT sc.lead_id FROM {STAGE_CHANGE} sc {source_join}
        WHERE sc.to_stage = ANY(%(stages)s) AND sc.created_at >= %(start)s AND sc.created_at < %(end)s
    ),
    stays AS (
        -- Per lead (LATERAL): one short scan of the (lead, created_at) index each, where a join
        -- over the whole table would read every lead's history to find these.
        SELECT t.lead_id, h.stage, h.entered_at, h.next_stage, h.left_at
        FROM touched t
        CROSS JOIN LATERAL (
            SELECT x.to_stage AS stage, x.created_at AS entered_at,
                   LEAD(x.to_stage) OVER w AS next_stage, LEAD(x.created_at) OVER w AS left_at
            FROM {STAGE_CHANGE} x
            WHERE x.lead_id = t.lead_id AND x.from_stage <> x.to_stage
            WINDOW w AS (ORDER BY x.created_at, x.id)
        ) h
    ),
    ended AS (
        SELECT s.*, EXTRACT(EPOCH FROM s.left_at - s.entered_at)::float8 / 3600 AS hours
        FROM stays s
        WHERE s.next_stage IS NOT NULL AND s.left_at >= %(start)s AND s.left_at < %(end)s
    )"""


@dataclass(frozen=True)
class StageTimeRow:
    stage: str
    next_stage: str
    stays: int
    leads: int
    median_hours: float | None
    p90_hours: float | None

    @property
    def key(self) -> str:
        return f"{self.stage}-{self.next_stage}"

    @property
    def label(self) -> str:
        return f"{Stage(self.stage).label} → {Stage(self.next_stage).label}"


def _transition_order(row: StageTimeRow) -> tuple:
    on_path = (
        row.stage in SUCCESS_PATH
        and row.next_stage in SUCCESS_PATH
        and SUCCESS_PATH.index(row.next_stage) == SUCCESS_PATH.index(row.stage) + 1
    )
    return (0, SUCCESS_PATH.index(row.stage), 0) if on_path else (1, -row.stays, row.key)


def stage_time(*, filters: Filters) -> list[StageTimeRow]:
    """Median and 90th percentile of hours spent in a stage, for stays that ended in the range."""
    rows = _rows(
        f"""WITH {_stays_cte(filters)}
        SELECT stage, next_stage, COUNT(*) AS stays, COUNT(DISTINCT lead_id) AS leads,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY hours) AS median_hours,
               percentile_cont(0.9) WITHIN GROUP (ORDER BY hours) AS p90_hours
        FROM ended GROUP BY stage, next_stage""",
        filters.params(),
    )
    result = [
        StageTimeRow(
            stage=r["stage"],
            next_stage=r["next_stage"],
            stays=r["stays"],
            leads=r["leads"],
            median_hours=_hours(r["median_hours"]),
            p90_hours=_hours(r["p90_hours"]),
        )
        for r in rows
    ]
    return sorted(result, key=_transition_order)


def _stage_time_drill(filters: Filters, key: str, converted: bool) -> tuple[str, dict, str]:
    stage, _, next_stage = key.partition("-")
    if stage not in ALL_STAGES or next_stage not in ALL_STAGES:
        raise UnknownFigure(key)
    sql = f"""WITH {_stays_cte(filters)}
        SELECT lead_id, left_at AS at, ROUND(hours::numeric, 1) || ' h in ' || stage AS info
        FROM ended WHERE stage = %(stage)s AND next_stage = %(next_stage)s"""
    label = f"Stays in {Stage(stage).label} that ended in {Stage(next_stage).label} in the range"
    return sql, {"stage": stage, "next_stage": next_stage}, label


# --------------------------------------------------------------------------------------------
# SLA compliance per SDR
# --------------------------------------------------------------------------------------------

_DECIDED = "a.status IN ('accepted', 'rejected')"
SLA_MEASURES = {
    "assigned": "TRUE",
    "decided": _DECIDED,
    "on_time": f"{_DECIDED} AND a.resolved_at <= a.sla_due_at",
    "late": f"{_DECIDED} AND a.resolved_at > a.sla_due_at",
    "overdue": "a.status = 'open' AND a.sla_due_at < %(now)s",
}
SLA_LABELS = {
    "assigned": "all",
    "decided": "accepted or rejected",
    "on_time": "decided within the SLA",
    "late": "decided after the SLA",
    "overdue": "still open past the SLA",
}


def _assignments_from(filters: Filters) -> str:
    source_join = f"JOIN {LEAD} l ON l.id = a.lead_id {_source(filters)}" if filters.source else ""
    return f"""FROM {ASSIGNMENT} a JOIN {USER} u ON u.id = a.owner_id {source_join}
        WHERE a.assigned_at >= %(start)s AND a.assigned_at < %(end)s"""


@dataclass(frozen=True)
class SlaRow:
    owner_id: int
    username: str
    assigned: int
    decided: int
    on_time: int
    late: int
    overdue: int
    median_hours: float | None

    @property
    def compliance(self) -> float | None:
        return _rate(self.on_time, self.decided)


def sla(*, filters: Filters) -> list[SlaRow]:
    """Hand-offs made in the range, per SDR: decided within the SLA, late, and open past due."""
    counts = ", ".join(f"COUNT(*) FILTER (WHERE {where}) AS {name}" for name, where in SLA_MEASURES.items())
    rows = _rows(
        f"""SELECT a.owner_id, u.username, {counts},
               percentile_cont(0.5) WITHIN GROUP (
                   ORDER BY EXTRACT(EPOCH FROM a.resolved_at - a.assigned_at)::float8 / 3600
               ) FILTER (WHERE {_DECIDED}) AS median_hours
        {_assignments_from(filters)}
        GROUP BY a.owner_id, u.username ORDER BY u.username""",
        filters.params(),
    )
    return [SlaRow(**{**r, "median_hours": _hours(r["median_hours"])}) for r in rows]


def _sla_drill(filters: Filters, key: str, converted: bool) -> tuple[str, dict, str]:
    # Usernames cannot contain a colon (Django's username validator), so "sam:on_time" is safe.
    owner, _, measure = key.rpartition(":")
    if not owner or measure not in SLA_MEASURES:
        raise UnknownFigure(key)
    sql = f"""SELECT a.lead_id, a.assigned_at AS at,
               a.status || CASE WHEN a.resolved_at IS NULL THEN '' ELSE ' after '
                   || ROUND((EXTRACT(EPOCH FROM a.resolved_at - a.assigned_at) / 3600)::numeric, 1) || ' h'
               END AS info
        {_assignments_from(filters)} AND u.username = %(owner)s AND {SLA_MEASURES[measure]}"""
    label = f"Hand-offs of the range to {owner}: {SLA_LABELS[measure]}"
    return sql, {"owner": owner}, label


# --------------------------------------------------------------------------------------------
# Rejection and disqualification reasons over time
# --------------------------------------------------------------------------------------------

# Reject always lands in recycled and disqualify/lose in disqualified (handoff/lifecycle.py);
# naming the to_stage lets the (to_stage, created_at) index find the rows.
REASON_KINDS = {
    "rejections": "sc.to_stage = 'recycled' AND sc.action = 'reject'",
    "disqualifications": "sc.to_stage = 'disqualified' AND sc.action IN ('disqualify', 'lose')",
}
_REASON = f"COALESCE(NULLIF(sc.reason, ''), '{NONE}')"
_BUCKET = "date_trunc(%(bucket)s, sc.created_at AT TIME ZONE %(tz)s)::date"


def _reasons_from(filters: Filters, kind: str) -> str:
    source_join = f"JOIN {LEAD} l ON l.id = sc.lead_id {_source(filters)}" if filters.source else ""
    return f"""FROM {STAGE_CHANGE} sc {source_join}
        WHERE {REASON_KINDS[kind]} AND sc.created_at >= %(start)s AND sc.created_at < %(end)s"""


@dataclass
class ReasonsOverTime:
    kind: str
    bucket: str
    periods: list[dt.date]
    reasons: list[str]  # most frequent first
    counts: dict[tuple[str, dt.date], int] = field(default_factory=dict)

    def total(self, reason: str) -> int:
        return sum(n for (r, _), n in self.counts.items() if r == reason)

    def series(self, reason: str) -> list[int]:
        return [self.counts.get((reason, p), 0) for p in self.periods]

    @property
    def grand_total(self) -> int:
        return sum(self.counts.values())


def _periods(filters: Filters) -> list[dt.date]:
    if filters.bucket == "week":
        first = filters.start - dt.timedelta(days=filters.start.weekday())
        return [first + dt.timedelta(weeks=i) for i in range((filters.end - first).days // 7 + 1)]
    periods, month = [], filters.start.replace(day=1)
    while month <= filters.end:
        periods.append(month)
        month = (month + dt.timedelta(days=32)).replace(day=1)
    return periods


def reasons(*, filters: Filters, kind: str) -> ReasonsOverTime:
    """Rejections (or disqualifications and losses) per reason and week (or month)."""
    if kind not in REASON_KINDS:
        raise UnknownFigure(kind)
    rows = _rows(
        f"SELECT {_REASON} AS reason, {_BUCKET} AS period, COUNT(*) AS n {_reasons_from(filters, kind)} "
        "GROUP BY 1, 2",
        filters.params(),
    )
    counts = {(r["reason"], r["period"]): r["n"] for r in rows}
    totals: dict[str, int] = {}
    for (reason, _), n in counts.items():
        totals[reason] = totals.get(reason, 0) + n
    return ReasonsOverTime(
        kind=kind,
        bucket=filters.bucket,
        periods=_periods(filters),
        reasons=sorted(totals, key=lambda r: (-totals[r], r)),
        counts=counts,
    )


def _reasons_drill(kind: str):
    def build(filters: Filters, key: str, converted: bool) -> tuple[str, dict, str]:
        reason, _, period = key.partition("@")
        params: dict[str, Any] = {"reason": reason}
        where = f"{_REASON} = %(reason)s"
        label = f"{kind.capitalize()} in the range for reason {reason}"
        if period:
            try:
                params["period"] = dt.date.fromisoformat(period)
            except ValueError as exc:
                raise UnknownFigure(key) from exc
            where += f" AND {_BUCKET} = %(period)s"
            label += f", {filters.bucket} of {period}"
        sql = f"""SELECT sc.lead_id, sc.created_at AS at, sc.action || ': ' || {_REASON} AS info
            {_reasons_from(filters, kind)} AND {where}"""
        return sql, params, label

    return build


# --------------------------------------------------------------------------------------------
# Score calibration
# --------------------------------------------------------------------------------------------

BANDS = [f"{10 * b}–{10 * b + 9}" if b < 9 else "90–100" for b in range(10)]


def _judged_cte(filters: Filters) -> str:
    """`judged`: leads with a verdict in the range, converted or not, and the score they had.

    Converted: reached SQL or beyond, or an outcome won/converted. Not converted: rejected,
    disqualified, lost, or an outcome lost/not_converted. A lead with both counts as converted.
    """
    return f"""
    verdicts AS (
        SELECT sc.lead_id, sc.created_at AS at, true AS positive FROM {STAGE_CHANGE} sc
        WHERE sc.to_stage IN ('sql', 'opportunity', 'customer')
          AND sc.created_at >= %(start)s AND sc.created_at < %(end)s
        UNION ALL
        SELECT sc.lead_id, sc.created_at, false FROM {STAGE_CHANGE} sc
        WHERE sc.to_stage IN ('recycled', 'disqualified') AND sc.action IN ('reject', 'disqualify', 'lose')
          AND sc.created_at >= %(start)s AND sc.created_at < %(end)s
        UNION ALL
        SELECT o.lead_id, o.occurred_at, o.result IN ('won', 'converted') FROM {OUTCOME} o
        WHERE o.result IN ('won', 'converted', 'lost', 'not_converted')
          AND o.occurred_at >= %(start)s AND o.occurred_at < %(end)s
    ),
    per_lead AS (
        SELECT lead_id, bool_or(positive) AS converted, MIN(at) AS first_at FROM verdicts GROUP BY lead_id
    ),
    judged AS (
        SELECT p.lead_id, p.converted, p.first_at,
               LEAST(GREATEST(COALESCE(ledger.score_after, l.score), 0) / 10, 9) AS band
        FROM per_lead p
        JOIN {LEAD} l ON l.id = p.lead_id {_source(filters)}
        LEFT JOIN LATERAL (
            SELECT s.score_after FROM {SCORE_CHANGE} s
            WHERE s.lead_id = p.lead_id AND s.computed_at <= p.first_at
            ORDER BY s.computed_at DESC, s.id DESC LIMIT 1
        ) ledger ON true
    )"""


@dataclass(frozen=True)
class BandRow:
    band: int
    label: str
    leads: int
    converted: int

    @property
    def rate(self) -> float | None:
        return _rate(self.converted, self.leads)


def calibration(*, filters: Filters) -> list[BandRow]:
    rows = _rows(
        f"""WITH {_judged_cte(filters)}
        SELECT band, COUNT(*) AS leads, COUNT(*) FILTER (WHERE converted) AS converted
        FROM judged GROUP BY band""",
        filters.params(),
    )
    by_band = {r["band"]: r for r in rows}
    return [
        BandRow(
            band=b,
            label=BANDS[b],
            leads=by_band.get(b, {}).get("leads", 0),
            converted=by_band.get(b, {}).get("converted", 0),
        )
        for b in range(10)
    ]


def _calibration_drill(filters: Filters, key: str, converted: bool) -> tuple[str, dict, str]:
    if not key.isdigit() or not 0 <= int(key) <= 9:
        raise UnknownFigure(key)
    sql = f"""WITH {_judged_cte(filters)}
        SELECT lead_id, first_at AS at, CASE WHEN converted THEN 'converted' ELSE 'not converted' END AS info
        FROM judged WHERE band = %(band)s{" AND converted" if converted else ""}"""
    label = f"Leads with a verdict in the range, score {BANDS[int(key)]}"
    label += " that converted" if converted else ""
    return sql, {"band": int(key)}, label


# --------------------------------------------------------------------------------------------
# Filter choices and the drill-down
# --------------------------------------------------------------------------------------------


def sources(limit: int = 200) -> list[str]:
    """The distinct lead sources, by a loose index scan: one index probe per source, not per lead."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH RECURSIVE s AS (
                (SELECT source FROM {LEAD} WHERE source > '' ORDER BY source LIMIT 1)
                UNION ALL
                SELECT (SELECT l.source FROM {LEAD} l WHERE l.source > s.source ORDER BY l.source LIMIT 1)
                FROM s WHERE s.source IS NOT NULL
            )
            SELECT source FROM s WHERE source IS NOT NULL LIMIT %s""",
            [limit],
        )
        return [row[0] for row in cursor.fetchall()]


DRILLS = {
    "funnel": _funnel_drill,
    **{by: _conversion_drill(by) for by in DIMENSION_TITLES},
    "stage_time": _stage_time_drill,
    "sla": _sla_drill,
    **{kind: _reasons_drill(kind) for kind in REASON_KINDS},
    "calibration": _calibration_drill,
}


@dataclass
class DrillRow:
    lead: Lead | None
    lead_id: int
    at: dt.datetime
    info: str


@dataclass
class DrillPage:
    title: str
    total: int
    page: int
    rows: list[DrillRow]

    @property
    def has_next(self) -> bool:
        return self.page * PAGE_SIZE < self.total


def drill_down(
    *, figure: str, key: str, filters: Filters, converted: bool = False, page: int = 1
) -> DrillPage:
    """The rows behind one number of a figure, newest first, 50 to a page (two queries)."""
    try:
        build = DRILLS[figure]
    except KeyError as exc:
        raise UnknownFigure(figure) from exc
    sql, extra, title = build(filters, key, converted)
    params = {**filters.params(), **extra, "offset": (page - 1) * PAGE_SIZE}
    with connection.cursor() as cursor:
        # The total rides along with the page (one pass over the figure's rows, not two).
        cursor.execute(
            f"""SELECT q.lead_id, q.at, q.info, COUNT(*) OVER () AS total FROM ({sql}) q
            ORDER BY q.at DESC, q.lead_id DESC LIMIT {PAGE_SIZE} OFFSET %(offset)s""",
            params,
        )
        found = cursor.fetchall()
        if found:
            total = found[0][3]
        else:  # past the last page (or nothing at all): count on its own
            cursor.execute(f"SELECT COUNT(*) FROM ({sql}) q", params)
            (total,) = cursor.fetchone()
    leads = Lead.objects.select_related("company", "owner").in_bulk([r[0] for r in found])
    rows = [
        DrillRow(lead=leads.get(lead_id), lead_id=lead_id, at=at, info=info) for lead_id, at, info, _ in found
    ]
    return DrillPage(title=title, total=total, page=page, rows=rows)
