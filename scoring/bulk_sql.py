"""The set-based scorer: a scoring model compiled into one SQL statement per chunk of leads.

A full rescore after activation scores every lead. In Python that is ~400 µs of CPU per lead
(bench/README.md, Scoring), most of it moving rows between PostgreSQL and the worker; here
PostgreSQL computes fit, engagement, the stored explanation and the MQL decision itself and
writes the rows in the same statement.

It is the engine's arithmetic, not an approximation of it: every expression below mirrors a
line of ``scoring/engine.py`` (same operations on the same IEEE doubles, summed in the same
order, rounded the same way), and ``tests/scoring/test_bulk_sql.py`` checks on random models,
leads and interactions that both paths leave exactly the same rows. Where SQL cannot be sure
of giving the engine's answer, it does not guess: an expression yields NULL ("unsure") and the
lead goes to the Python engine. That happens for
- text that is not plain ASCII (Python's casefold, strip and word rules are Unicode-wide),
  strings read as numbers, numbers with more than 15 digits, booleans, lists and objects;
- a rounding to hundredths within 1e-4 of a tie (``engine._points``' own slow path);
- decay more than 900 half-lives old (PostgreSQL raises on underflow, Python gives 0.0);
- leads whose stage changes (promotion to MQL) or that fall below the MQL bar: their stage
  history, ledger note and webhook are written by the Python path, as everywhere else.
A model using something this compiler does not translate (see ``compile_model``) is scored by
the engine alone.

Pure Python, no Django: SQL text and parameters in, nothing executed here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from . import engine

# Python's str.strip() whitespace within ASCII: what btrim removes below.
_ASCII_SPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"
_TEXT_FIELDS = {
    "job_title": "l.job_title",
    "seniority": "l.seniority",
    "department": "l.department",
    "country": "l.country",
    "source": "l.source",
    "company_domain": "COALESCE(c.domain, '')",
    "industry": "COALESCE(c.industry, '')",
}
_INT_FIELDS = {"employee_count": "c.employee_count", "annual_revenue": "c.annual_revenue"}
_FLOAT_FIELDS = {"conversion_probability": "l.conversion_probability"}
_MAX_EXACT_INT = 2**53
_DAY_US = 86_400_000_000


class Unsupported(Exception):
    """The model uses something the compiler does not translate; score it with the engine."""


@dataclass(frozen=True)
class BulkScorer:
    """One model's statement. ``params(...)`` fills it for a chunk."""

    sql: str
    model_params: dict[str, Any]

    def params(
        self,
        *,
        lead_ids: Sequence[int],
        now: datetime,
        model_id: int,
        version: int,
        cause: str,
    ) -> dict[str, Any]:
        return {
            **self.model_params,
            "ids": list(lead_ids),
            "now_us": _epoch_us(now),
            "now": now,
            "computed_at": json.dumps(now.isoformat()),
            "model_id": model_id,
            "version": version,
            "cause": cause,
        }


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _epoch_us(moment: datetime) -> int:
    delta = moment - _EPOCH  # exact whole microseconds, as the engine's timedelta arithmetic
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class _Sql:
    """Collects named parameters while SQL text is built (the chunk's own ones are filled later)."""

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}

    def p(self, value: Any, cast: str = "") -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f"%({name})s{cast}"

    @staticmethod
    def slot(name: str, cast: str = "") -> str:
        return f"%({name})s{cast}"


def _float(value: Any) -> str:
    """An exact float8 literal for a model number (int or float)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Unsupported(f"not a finite number: {value!r}")
    if isinstance(value, int) and abs(value) >= _MAX_EXACT_INT:
        raise Unsupported(f"integer too large to be exact as a double: {value!r}")
    return f"'{float(value)!r}'::float8"


def _json_literal(value: Any) -> str:
    text = json.dumps(value)
    return "'" + text.replace("'", "''") + "'::jsonb"


def _json_float(x: str) -> str:
    """JSON text of a float8 as Python writes it: 3.0 stays 3.0 (PostgreSQL would write 3).
    The explanation is built as text and parsed once per lead: ~30 jsonb constructor calls
    per lead cost more than the rest of the scoring."""
    return f"(CASE WHEN {x} = trunc({x}) AND abs({x}) < 1e15 THEN ({x})::text || '.0' ELSE ({x})::text END)"


def _points(x: str) -> str:
    """engine._points in SQL: the same fast path, NULL (unsure) where Python takes round()."""
    scaled = f"(({x}) * 100.0)"
    whole = f"floor({scaled})"
    return (
        f"(CASE WHEN ({x}) > -1e6 AND ({x}) < 1e6 THEN CASE"
        f" WHEN {scaled} - {whole} < 0.4999 THEN {whole} / 100.0 + 0.0"
        f" WHEN {scaled} - {whole} > 0.5001 THEN ({whole} + 1.0) / 100.0 + 0.0 END END)"
    )


def _ascii(text: str) -> str:
    return f"(octet_length({text}) = char_length({text}))"


def _strip(text: str) -> str:
    return f"btrim({text}, E'{_escape_e(_ASCII_SPACE)}')"


def _escape_e(chars: str) -> str:
    return "".join(f"\\x{ord(ch):02x}" for ch in chars)


def _fold(text: str) -> str:
    return f'lower({_strip(text)} COLLATE "C")'


def _all_str(values: Any) -> bool:
    return isinstance(values, tuple | list) and all(type(v) is str for v in values)


# ---------------------------------------------------------------------------------------------
# Fit: each condition as a boolean expression, NULL when only Python can tell
# ---------------------------------------------------------------------------------------------


def _text_condition(q: _Sql, op: str, v: str, values: Sequence[Any], minimum: Any, maximum: Any) -> str:
    """engine._matches for a text value ``v`` (never NULL here)."""
    if op == "exists":
        return f"(CASE WHEN {_ascii(v)} THEN {_strip(v)} <> '' END)"
    if op == "in":
        strings = sorted({s.strip().casefold() for s in values})
        return f"(CASE WHEN {_ascii(v)} THEN {_strip(v)} <> '' AND {_fold(v)} = ANY({q.p(strings, '::text[]')}) END)"
    if op == "equals":
        if not values:
            return "false"
        first = values[0].strip().casefold()
        return f"(CASE WHEN {_ascii(v)} THEN {_strip(v)} <> '' AND {_fold(v)} = {q.p(first, '::text')} END)"
    if op == "contains_any":
        patterns = sorted({"% " + " ".join(words) + " %" for k in values if (words := engine._words(k))})
        if not patterns:
            return "false"
        folded_words = f"(' ' || regexp_replace(lower({v} COLLATE \"C\"), '[^a-z0-9]+', ' ', 'g') || ' ')"
        return f"(CASE WHEN {_ascii(v)} THEN {folded_words} LIKE ANY({q.p(patterns, '::text[]')}) END)"
    if op == "range":
        return _not_a_number(v)
    raise Unsupported(f"op {op!r}")


def _not_a_number(v: str) -> str:
    """false for ASCII text float() cannot read (blank, or no digit and not inf/nan), else NULL:
    text that reads as a number is left to Python's float()."""
    stripped = _strip(v)
    return (
        f"(CASE WHEN {_ascii(v)} AND ({stripped} = '' OR ({stripped} !~ '[0-9]'"
        f" AND lower({stripped} COLLATE \"C\") !~ '^[+-]?(inf|infinity|nan)$')) THEN false END)"
    )


def _range(x: str, minimum: Any, maximum: Any) -> str:
    parts = []
    if minimum is not None:
        parts.append(f"{x} >= {_float(minimum)}")
    if maximum is not None:
        parts.append(f"{x} <= {_float(maximum)}")
    return " AND ".join(parts) or "true"


def _number_condition(op: str, x: str, minimum: Any, maximum: Any) -> str:
    """engine._matches for a nullable int8/float8 ``x`` against string-only values."""
    if op == "exists":
        return f"({x} IS NOT NULL AND {x} <> 0)"
    if op in ("in", "equals", "contains_any"):
        return "false"  # a number never equals a string, nor contains words
    if op == "range":
        finite = f"{x} > '-Infinity'::float8 AND {x} < 'Infinity'::float8"
        return f"({x} IS NOT NULL AND {finite} AND {_range(f'{x}::float8', minimum, maximum)})"
    raise Unsupported(f"op {op!r}")


_NUMBER_TEXT = "'^-?[0-9]+(\\.[0-9]+)?$'"


def _exact_number(text: str) -> str:
    """A jsonb number whose text has at most 15 digits: the same double in both languages."""
    return f"({text} ~ {_NUMBER_TEXT} AND length(translate({text}, '-.', '')) <= 15)"


def _json_condition(q: _Sql, op: str, j: str, values: Sequence[Any], minimum: Any, maximum: Any) -> str:
    """engine._matches for a jsonb value ``j`` (SQL NULL when the key is missing)."""
    text = f"({j} #>> '{{}}')"
    kind = f"jsonb_typeof({j})"
    on_text = _text_condition(q, op, text, values, minimum, maximum)
    if op == "exists":
        on_number = f"({text})::float8 <> 0"
    elif op == "range":
        on_number = _range(f"({text})::float8", minimum, maximum)
    else:
        on_number = "false"
    return (
        f"(CASE WHEN {j} IS NULL OR {kind} = 'null' THEN false"
        f" WHEN {kind} = 'string' THEN {on_text}"
        f" WHEN {kind} = 'number' AND {_exact_number(text)} THEN {on_number} END)"
    )


def _json_value(j: str) -> str:
    """The explanation's copy of a jsonb attribute value, NULL (unsure) where Python's
    round trip through a double could change it."""
    text = f"({j} #>> '{{}}')"
    return (
        f"(CASE WHEN {j} IS NULL THEN 'null'::jsonb WHEN jsonb_typeof({j}) = 'number'"
        f" THEN CASE WHEN {text} !~ '[.eE]' OR {_exact_number(text)} THEN {j} END"
        f" WHEN jsonb_typeof({j}) IN ('string', 'null') THEN {j} END)"
    )


def _condition(q: _Sql, field: str, op: str, values: Sequence[Any], minimum: Any, maximum: Any):
    """(matched expression, explanation value expression) for a criterion or knock-out."""
    if op in ("in", "equals", "contains_any") and not _all_str(values):
        raise Unsupported("condition values that are not all strings")
    for bound in (minimum, maximum):
        if bound is not None:
            _float(bound)
    if type(field) is not str:
        raise Unsupported("field")
    if field in _TEXT_FIELDS or field == "email_domain":
        v = _EMAIL_DOMAIN if field == "email_domain" else _TEXT_FIELDS[field]
        return _text_condition(q, op, v, values, minimum, maximum), f"to_json({v})::text"
    if field in _INT_FIELDS:
        x = _INT_FIELDS[field]
        return _number_condition(op, x, minimum, maximum), f"COALESCE(({x})::text, 'null')"
    if field in _FLOAT_FIELDS:
        x = _FLOAT_FIELDS[field]
        value = (
            f"(CASE WHEN {x} > '-Infinity'::float8 AND {x} < 'Infinity'::float8"
            f" THEN {_json_float(x)} ELSE 'null' END)"
        )
        return _number_condition(op, x, minimum, maximum), value
    if field.startswith(engine.ATTRIBUTES_PREFIX):
        j = f"(l.attributes -> {q.p(field[len(engine.ATTRIBUTES_PREFIX) :], '::text')})"
        return _json_condition(q, op, j, values, minimum, maximum), f"({_json_value(j)})::text"
    raise Unsupported(f"field {field!r}")


# email.strip().rpartition("@"): the part after the last @, stripped and lower-cased; "" without an @.
_EMAIL = _strip("l.email")
_EMAIL_DOMAIN = (
    f"(CASE WHEN {_ascii('l.email')} THEN CASE WHEN position('@' in {_EMAIL}) = 0 THEN ''"
    f' ELSE lower({_strip(f"substring({_EMAIL} from {chr(39)}[^@]*${chr(39)})")} COLLATE "C") END END)'
)


# ---------------------------------------------------------------------------------------------
# Engagement: interaction filters and rules
# ---------------------------------------------------------------------------------------------


def _filter(q: _Sql, flt: engine.PropertyFilter) -> str:
    """engine._filter_holds on ``e.properties``; NULL where only Python can tell."""
    j = f"(e.properties -> {q.p(flt.key, '::text')})"
    text, kind = f"({j} #>> '{{}}')", f"jsonb_typeof({j})"
    missing = f"{j} IS NULL OR {kind} = 'null'"
    op, target = flt.op, flt.value
    if op == "exists":
        return f"(CASE WHEN {missing} THEN false WHEN {kind} <> 'string' THEN true WHEN {_ascii(text)} THEN {_strip(text)} <> '' END)"
    if op == "contains":
        if type(target) is not str:
            raise Unsupported("contains needs a string")
        needle = q.p(target.casefold(), "::text")
        on_text = f"(CASE WHEN {_ascii(text)} THEN strpos(lower({text} COLLATE \"C\"), {needle}) > 0 AND {_strip(text)} <> '' END)"
        return f"(CASE WHEN {missing} OR {kind} <> 'string' THEN false ELSE {on_text} END)"
    if op in ("equals", "in"):
        targets = (target,) if op == "equals" else (target or ())
        if not _all_str(targets):
            raise Unsupported("filter values that are not all strings")
        strings = sorted({t.strip().casefold() for t in targets})
        on_text = (
            f"(CASE WHEN {_ascii(text)} THEN {_strip(text)} <> ''"
            f" AND {_fold(text)} = ANY({q.p(strings, '::text[]')}) END)"
        )
        return f"(CASE WHEN {missing} OR {kind} <> 'string' THEN false ELSE {on_text} END)"
    if op in ("gte", "lte"):
        bound = engine._as_number(target)
        if bound is None:
            return "false"
        compare = f"({text})::float8 {'>=' if op == 'gte' else '<='} {_float(bound)}"
        return (
            f"(CASE WHEN {missing} THEN false"
            f" WHEN {kind} = 'number' THEN CASE WHEN {_exact_number(text)} THEN {compare} END"
            f" WHEN {kind} = 'string' THEN {_not_a_number(text)}"
            " ELSE false END)"
        )
    raise Unsupported(f"filter op {op!r}")


def _rule_checks(rule: engine.EngagementRule) -> None:
    if not _all_str(rule.types) or not rule.types:
        raise Unsupported("rule types")
    if rule.per not in engine.PER_KINDS:
        raise Unsupported("per")
    if type(rule.min_count) is not int:
        raise Unsupported("min_count")
    for number in (rule.points, rule.cap, rule.half_life_days, rule.expiry_days):
        if number is not None:
            _float(number)
    # PostgreSQL raises where Python quietly under- or overflows; keep far from both.
    if rule.half_life_days is not None and _decay_limit(rule.points) < 1:
        raise Unsupported("points too small to decay")
    if rule.half_life_days is not None and rule.half_life_days < 1e-6:
        raise Unsupported("half-life")
    if rule.cap is not None and rule.cap < 0:
        raise Unsupported("cap")


def _unit(rule: engine.EngagementRule, q: _Sql) -> str:
    """The unit an event counts in: itself, the lead (once), its UTC day, or its type."""
    if rule.per == "event":
        return "e.id"
    if rule.per == "once":
        return "0::int8"
    if rule.per == "distinct_day":
        return f"floor(e.occ_us::numeric / {_DAY_US})::int8"
    return f"array_position({q.p(list(dict.fromkeys(rule.types)), '::text[]')}, e.type::text)::int8"


def _decay_limit(points: float) -> float:
    """The most half-lives SQL decays ``points`` by: PostgreSQL raises an underflow error where
    Python gives 0.0 (0.5 ** 1075, or points times a tiny factor), so stay well above 2 ** -1060."""
    if points == 0:
        return 900.0
    return min(900.0, 1060.0 + math.log2(abs(points)) - 10.0)


def _term(rule: engine.EngagementRule, age: str) -> str:
    """One unit's points: ``points * 0.5 ** (age / half_life)``, or ``points * 1.0``."""
    points = _float(rule.points)
    if rule.half_life_days is None:
        return f"({points} * 1.0)"
    exponent = f"({age} / {_float(rule.half_life_days)})"
    limit = _float(_decay_limit(rule.points))
    return f"(CASE WHEN {exponent} <= {limit} THEN {points} * power(0.5::float8, {exponent}) END)"


def _case(index: str, branches: Sequence[str], empty: str) -> str:
    """The branch for the rule number ``index``; ``empty`` (a typed NULL) when there are no rules."""
    if not branches:
        return empty
    return f"(CASE {index} " + " ".join(f"WHEN {i} THEN {b}" for i, b in enumerate(branches)) + " END)"


# ---------------------------------------------------------------------------------------------
# The statement
# ---------------------------------------------------------------------------------------------

PROMOTABLE = ("lead", "subscriber", "recycled")


def compile_model(model: engine.ScoringModel) -> BulkScorer | None:
    """The model's statement, or None when the engine alone must score it."""
    try:
        return _compile(model)
    except Unsupported:
        return None


def _grade_rank(grade: str) -> int:
    return engine.GRADES.index(grade)


def _compile(model: engine.ScoringModel) -> BulkScorer:
    q = _Sql()
    icp = model.icp
    if not all(g in engine.THRESHOLD_GRADES for g in icp.grade_thresholds):
        raise Unsupported("grade thresholds")
    for grade in (model.mql_min_grade, model.fast_lane_min_grade):
        if grade not in engine.GRADES:
            raise Unsupported("grade")
    if not _all_str(model.fast_lane_types):
        raise Unsupported("fast lane types")
    for rule in model.rules:
        _rule_checks(rule)
    reads = engine.interaction_reads(model)

    # -- lead columns and fit ----------------------------------------------------------------
    criteria_sql, knockout_sql = [], []
    for c in icp.criteria:
        _float(c.weight)
        matched, value = _condition(q, c.field, c.op, c.values, c.min, c.max)
        criteria_sql.append((c, matched, value))
    for k in icp.knockouts:
        matched, _ = _condition(q, k.field, k.op, k.values, k.min, k.max)
        knockout_sql.append((k, matched))
    possible = sum(c.weight for c in icp.criteria if c.weight > 0)
    fit_columns = [f"{m} AS m{i}" for i, (_, m, _) in enumerate(criteria_sql)]
    fit_columns += [f"{v} AS v{i}" for i, (_, _, v) in enumerate(criteria_sql)]
    fit_columns += [f"{m} AS k{i}" for i, (_, m) in enumerate(knockout_sql)]

    matched_weight = "0.0::float8"
    for i, (c, _, _) in enumerate(criteria_sql):
        matched_weight = f"({matched_weight} + CASE WHEN f.m{i} THEN {_float(c.weight)} ELSE 0.0 END)"
    if possible <= 0:
        fit_score = "0"
    else:
        share = f"round(100.0::float8 * greatest(0.0::float8, {matched_weight}) / {_float(possible)})"
        fit_score = f"least(100, greatest(0, {share}))::int"
    knocked = " OR ".join(f"f.k{i}" for i in range(len(knockout_sql))) or "false"
    grade_cases = " ".join(
        f"WHEN s0.fit_score >= {_float(icp.grade_thresholds[g])} THEN '{g}'"
        for g in engine.THRESHOLD_GRADES
        if icp.grade_thresholds.get(g) is not None
    )
    # JSON text: concat_ws leaves out the NULLs (knock-outs that did not hit).
    knocked_out_by = "'[' || concat_ws(',', " + ", ".join(
        [f"CASE WHEN s.k{i} THEN {q.p(json.dumps(k.label), '::text')} END" for i, (k, _) in enumerate(knockout_sql)]
        or ["NULL"]
    ) + ") || ']'"
    criteria_json = "'[' || concat_ws(',', " + ", ".join(
        [
            f"'[' || {q.p(json.dumps(c.key), '::text')} || CASE WHEN s.m{i} THEN ',true,' || {q.p(json.dumps(c.weight), '::text')}"
            f" ELSE ',false,0' END || ',' || s.v{i} || ']'"
            for i, (c, _, _) in enumerate(criteria_sql)
        ]
        or ["NULL"]
    ) + ") || ']'"
    unsure_fit = (
        " OR ".join(
            [f"f.m{i} IS NULL OR f.v{i} IS NULL" for i in range(len(criteria_sql))]
            + [f"f.k{i} IS NULL" for i in range(len(knockout_sql))]
        )
        or "false"
    )

    # -- engagement ---------------------------------------------------------------------------
    rules = model.rules
    pairs = [(r, t) for r, rule in enumerate(rules) for t in dict.fromkeys(rule.types)]
    rule_types = (
        "(VALUES " + ", ".join(f"({r}, {q.p(t, '::text')})" for r, t in pairs) + ") AS rt(r, type)"
        if pairs
        else "(SELECT 0, ''::text WHERE false) AS rt(r, type)"
    )
    matches = []
    for rule in rules:
        tests = [_filter(q, flt) for flt in rule.filters]
        if rule.expiry_days is not None:
            tests.append(f"e.age <= {_float(rule.expiry_days)}")
        matches.append(" AND ".join(tests) or "true")
    units = [_unit(rule, q) for rule in rules]
    terms = [_term(rule, "u.age") for rule in rules]
    counted_by_events = [rule.per == "once" for rule in rules]
    min_counts = [str(rule.min_count) for rule in rules]
    caps = [_float(rule.cap) if rule.cap is not None else "NULL::float8" for rule in rules]
    raw_units = [f"({_float(rule.points)} * a.units)" for rule in rules]
    keys = q.p([json.dumps(rule.key) for rule in rules], "::text[]")
    has_property_types = bool(reads.property_types)
    property_types = q.p(sorted(reads.property_types), "::text[]")

    ids = q.slot("ids", "::int8[]")
    now_us = q.slot("now_us", "::int8")
    types = q.p(sorted(reads.types), "::text[]")
    fast_lane = q.p(sorted(set(model.fast_lane_types)), "::text[]")
    fit_sql = ", ".join(fit_columns) or "NULL AS nothing"
    threshold = _float(model.mql_engagement_threshold)
    min_rank, fast_rank = _grade_rank(model.mql_min_grade), _grade_rank(model.fast_lane_min_grade)
    probability = (
        ""
        if model.mql_min_probability is None
        else " AND t0.probability IS NOT NULL AND t0.probability < 'Infinity'::float8"
        f" AND t0.probability >= {_float(model.mql_min_probability)}"
    )
    if model.total_cap is None:
        engagement_score = "greatest(0, COALESCE(a.rounded, 0))"
        total_capped = "false"
    else:
        engagement_score = (
            f"CASE WHEN COALESCE(a.rounded, 0) > {_float(model.total_cap)}"
            f" THEN floor({_float(model.total_cap)}) ELSE greatest(0, COALESCE(a.rounded, 0)) END"
        )
        total_capped = f"COALESCE(a.rounded, 0) > {_float(model.total_cap)}"
    computed_at, version = q.slot("computed_at", "::text"), q.slot("version", "::int")
    promotable = q.p(list(PROMOTABLE), "::text[]")
    now, model_id, cause = (
        q.slot("now", "::timestamptz"),
        q.slot("model_id", "::int8"),
        q.slot("cause", "::text"),
    )
    properties_ok = (
        f"(e.type <> ALL({property_types}) OR jsonb_typeof(e.properties) = 'object')"
        if has_property_types
        else "true"
    )

    sql = f"""
WITH lead AS MATERIALIZED (
  SELECT l.id, l.stage, l.score AS old_score, l.score_explanation = '{{}}'::jsonb AS cold,
         COALESCE(l.score_explanation -> 'mql' = 'true'::jsonb, false) AS old_mql,
         l.conversion_probability AS probability, {fit_sql}
  FROM leads_lead l LEFT JOIN leads_company c ON c.id = l.company_id
  WHERE l.id = ANY({ids})
  ORDER BY l.id
  FOR NO KEY UPDATE OF l SKIP LOCKED
),
e AS MATERIALIZED (
  SELECT i.lead_id, i.id, i.type, i.properties, i.occ_us,
         CASE WHEN i.age > 0.0 THEN i.age ELSE 0.0::float8 END AS age
  FROM (SELECT lead_id, id, type, properties, (extract(epoch FROM occurred_at) * 1000000)::int8 AS occ_us,
               ((({now_us} - (extract(epoch FROM occurred_at) * 1000000)::int8)::float8 / 1000000.0) / 86400.0) AS age
        FROM leads_interaction WHERE lead_id = ANY({ids}) AND type = ANY({types})) i
),
m AS MATERIALIZED (
  SELECT e.lead_id, rt.r, e.id, e.occ_us, e.age, {_case("rt.r", units, "NULL::int8")} AS unit,
         {_case("rt.r", matches, "NULL::boolean")} AS ok, {properties_ok} AS props_ok
  FROM e JOIN {rule_types} ON rt.type = e.type
),
u AS (
  SELECT lead_id, r, min(id) AS first_id, min(age) AS age, count(*) AS n
  FROM m WHERE ok GROUP BY lead_id, r, unit
),
a0 AS (
  SELECT u.lead_id, u.r, count(*) AS units, sum(u.n) AS events,
         sum({_case("u.r", terms, "NULL::float8")} ORDER BY u.first_id) AS decayed,
         bool_or({_case("u.r", terms, "NULL::float8")} IS NULL) AS unsure
  FROM u GROUP BY u.lead_id, u.r
),
ids AS (
  SELECT lead_id, r, array_agg(id ORDER BY occ_us, id) AS event_ids FROM m WHERE ok GROUP BY lead_id, r
),
c0 AS (
  SELECT a.lead_id, a.r, a.units, a.decayed, a.unsure, i.event_ids,
         {_case("a.r", caps, "NULL::float8")} AS cap, {_case("a.r", raw_units, "NULL::float8")} AS raw
  FROM a0 a JOIN ids i USING (lead_id, r)
  WHERE CASE WHEN {_case("a.r", ["true" if b else "false" for b in counted_by_events], "NULL::boolean")} THEN a.events ELSE a.units END
        >= {_case("a.r", min_counts, "NULL::int8")}
),
c1 AS (
  SELECT c0.*, c0.cap IS NOT NULL AND abs(c0.decayed) > c0.cap AS capped, {_points("c0.decayed")} AS decayed_points,
         {_points("c0.raw")} AS raw_points
  FROM c0
),
c2 AS (
  SELECT c1.*, CASE WHEN c1.capped THEN {_points("CASE WHEN c1.decayed < 0 THEN -c1.cap ELSE c1.cap END")}
                    ELSE c1.decayed_points END AS points
  FROM c1
),
eng AS (
  SELECT lead_id,
         '[' || string_agg('[' || ({keys})[r + 1] || ',' || units || ',' || {_json_float("raw_points")} || ','
                           || {_json_float("decayed_points")} || ',' || {_json_float("points")} || ',' || capped
                           || ',[' || array_to_string(event_ids, ',') || ']]', ',' ORDER BY r) || ']' AS rules,
         round(sum(points ORDER BY r)) AS rounded,
         bool_or(unsure OR raw_points IS NULL OR decayed_points IS NULL OR points IS NULL) AS unsure
  FROM c2 GROUP BY lead_id
),
hand AS (
  SELECT lead_id, true AS raised_hand FROM e WHERE type = ANY({fast_lane}) GROUP BY lead_id
),
doubt AS (
  SELECT lead_id, true AS unsure FROM m WHERE ok IS NULL OR NOT props_ok GROUP BY lead_id
),
s0 AS (
  SELECT f.*, {fit_score} AS fit_score, {knocked} AS knocked, {unsure_fit} AS unsure_fit FROM lead f
),
s AS (
  SELECT s0.*, CASE WHEN s0.knocked THEN 'F' {grade_cases} ELSE 'D' END AS fit_grade FROM s0
),
t0 AS (
  SELECT s.id, s.stage, s.old_score, s.cold, s.old_mql, s.fit_score, s.fit_grade, s.probability,
         ({engagement_score})::int AS engagement_score, {total_capped} AS total_capped,
         COALESCE(a.rules, '[]') AS rules, COALESCE(h.raised_hand, false) AS raised_hand,
         s.unsure_fit OR COALESCE(a.unsure, false) OR COALESCE(d.unsure, false) AS unsure,
         {criteria_json} AS criteria, {knocked_out_by} AS knocked_out_by
  FROM s LEFT JOIN eng a ON a.lead_id = s.id LEFT JOIN hand h ON h.lead_id = s.id
         LEFT JOIN doubt d ON d.lead_id = s.id
),
t1 AS (
  SELECT t0.*, round((t0.fit_score + t0.engagement_score)::float8 / 2.0::float8)::int AS score,
         t0.engagement_score >= {threshold} AND t0.fit_grade <> 'F'
           AND array_position(ARRAY['A','B','C','D','F'], t0.fit_grade) - 1 <= {min_rank}
           {probability} AS by_threshold,
         t0.raised_hand AND t0.fit_grade <> 'F'
           AND array_position(ARRAY['A','B','C','D','F'], t0.fit_grade) - 1 <= {fast_rank} AS by_fast_lane
  FROM t0
),
t AS MATERIALIZED (
  SELECT t1.*, t1.by_threshold OR t1.by_fast_lane AS mql,
         CASE WHEN t1.by_threshold THEN 'threshold' WHEN t1.by_fast_lane THEN 'fast_lane' ELSE '' END AS mql_reason,
         t1.unsure
           OR ((t1.by_threshold OR t1.by_fast_lane) AND t1.stage = ANY({promotable}))
           OR (t1.old_mql AND NOT (t1.by_threshold OR t1.by_fast_lane) AND t1.stage <> ALL({promotable}))
           AS to_python
  FROM t1
),
written AS (
  UPDATE leads_lead l
  SET fit_score = t.fit_score, fit_grade = t.fit_grade, engagement_score = t.engagement_score,
      score = t.score, scored_at = {now}, needs_rescore = false,
      score_explanation = ('{{"format":{engine.STORED_FORMAT},"fit":{{"score":' || t.fit_score
        || ',"grade":"' || t.fit_grade || '","criteria":' || t.criteria || ',"knocked_out_by":' || t.knocked_out_by
        || '}},"engagement":{{"score":' || t.engagement_score || ',"rules":' || t.rules || ',"total_capped":'
        || t.total_capped || '}},"score":' || t.score || ',"mql":' || t.mql || ',"mql_reason":"' || t.mql_reason
        || '","computed_at":' || {computed_at} || ',"model_version":' || {version} || '}}')::jsonb
  FROM t WHERE l.id = t.id AND NOT t.to_python
  RETURNING l.id
),
ledger AS (
  INSERT INTO scoring_scorechange (lead_id, model_id, computed_at, cause, kind, rule_key, label,
                                   interaction_id, points, value_after, score_after, fit_grade_after,
                                   engagement_after)
  SELECT t.id, {model_id}, {now}, {cause}, 'total', '', 'Lead score', NULL,
         t.score - CASE WHEN t.cold THEN 0 ELSE t.old_score END, t.score, t.score, t.fit_grade,
         t.engagement_score
  FROM t WHERE NOT t.to_python AND (t.cold OR t.score <> t.old_score)
  ORDER BY t.id
  RETURNING 1
)
SELECT t.id, t.to_python, (SELECT count(*) FROM written), (SELECT count(*) FROM ledger) FROM t ORDER BY t.id
"""
    return BulkScorer(sql, q.params)
