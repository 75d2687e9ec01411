"""The scoring arithmetic: ICP fit, engagement points, and the MQL rule.

Pure Python on purpose (no Django imports): plain data in, plain data out, so the rules a
marketer edits can be previewed, backtested and unit-tested in milliseconds. The Django layer
turns rows into ``LeadFacts`` / ``InteractionFact`` and results back into rows.

Scoring models are stored as JSON; ``model_from_dict`` is the only gate that validates them,
and ``model_to_dict`` writes every field explicitly so a stored model keeps its meaning even if
a default here changes later.

A full rescore calls ``score_lead`` about a million times, so each model is compiled once into a
cached plan (see "Compiled plans") and results are built without the frozen ``__init__``. The
plain helpers (``_matches``, ``_filter_holds``) remain the definition of what a condition means;
the compiled tests only take shortcuts for common value types and defer to them otherwise.
"""

from __future__ import annotations

import math
import re
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from itertools import chain
from operator import attrgetter
from typing import Any, NamedTuple

# --------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------

INTERACTION_TYPES: tuple[str, ...] = (
    "page_view",
    "pricing_page_view",
    "content_download",
    "webinar_registration",
    "webinar_attendance",
    "email_open",
    "email_click",
    "form_submission",
    "newsletter_signup",
    "demo_request",
    "contact_request",
    "trial_signup",
    "ad_click",
    "cart_add",
    "social_engagement",
    "unsubscribe",
    "bounce",
)

SENIORITIES: tuple[str, ...] = (
    "c_level",
    "vp",
    "director",
    "manager",
    "individual",
    "student",
    "unknown",
)

# Best first; "F" is the knock-out grade and never meets a minimum.
GRADES: tuple[str, ...] = ("A", "B", "C", "D", "F")
THRESHOLD_GRADES: tuple[str, ...] = ("A", "B", "C")  # D is "below C", F is a knock-out
DEFAULT_GRADE_THRESHOLDS: Mapping[str, float] = {"A": 75, "B": 50, "C": 25}

LEAD_FIELDS: tuple[str, ...] = (
    "industry",
    "employee_count",
    "annual_revenue",
    "country",
    "seniority",
    "department",
    "job_title",
    "source",
    "company_domain",
    "conversion_probability",  # from predictive scoring, 0..1; None until a model has scored the lead
)
ATTRIBUTES_PREFIX = "attributes."
CRITERION_OPS: tuple[str, ...] = ("in", "range", "contains_any", "equals", "exists")
FILTER_OPS: tuple[str, ...] = ("contains", "equals", "in", "gte", "lte", "exists")
PER_KINDS: tuple[str, ...] = ("event", "distinct_day", "distinct_type", "once")

_SECONDS_PER_DAY = 86_400.0


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeadFacts:
    email: str
    job_title: str = ""
    seniority: str = ""
    department: str = ""
    country: str = ""
    source: str = ""
    company_domain: str = ""
    industry: str = ""
    employee_count: int | None = None
    annual_revenue: int | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    conversion_probability: float | None = None

    @property
    def email_domain(self) -> str:
        _, at, domain = self.email.strip().rpartition("@")
        return domain.strip().lower() if at else ""


@dataclass(frozen=True)
class InteractionFact:
    id: int
    type: str
    occurred_at: datetime
    properties: Mapping[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Criterion:
    key: str
    label: str
    field: str
    op: str
    values: tuple[Any, ...] = ()
    min: float | None = None
    max: float | None = None
    weight: float = 0


@dataclass(frozen=True)
class KnockOut:
    key: str
    label: str
    field: str
    op: str
    values: tuple[Any, ...] = ()
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class ICP:
    criteria: tuple[Criterion, ...]
    knockouts: tuple[KnockOut, ...] = ()
    grade_thresholds: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_GRADE_THRESHOLDS))


@dataclass(frozen=True)
class PropertyFilter:
    key: str
    op: str
    value: Any = None


@dataclass(frozen=True)
class EngagementRule:
    key: str
    label: str
    types: tuple[str, ...]
    points: float
    filters: tuple[PropertyFilter, ...] = ()
    per: str = "event"
    min_count: int = 1
    cap: float | None = None
    half_life_days: float | None = None
    expiry_days: float | None = None


@dataclass(frozen=True)
class ScoringModel:
    icp: ICP
    rules: tuple[EngagementRule, ...]
    mql_engagement_threshold: float = 50
    mql_min_grade: str = "B"
    total_cap: float | None = 100
    fast_lane_types: tuple[str, ...] = ("demo_request", "contact_request")
    fast_lane_min_grade: str = "C"
    # Predictive scoring as an MQL criterion: when set, the threshold path also needs a predicted
    # conversion probability at least this high (leads not yet predicted do not meet it).
    mql_min_probability: float | None = None


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FitContribution:
    key: str
    label: str
    matched: bool
    points: float
    value: Any


@dataclass(frozen=True)
class FitResult:
    score: int
    grade: str
    contributions: tuple[FitContribution, ...]
    knocked_out_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class EngagementContribution:
    key: str
    label: str
    units: int
    raw_points: float
    decayed_points: float
    points: float
    capped: bool
    event_ids: tuple[int, ...]


@dataclass(frozen=True)
class EngagementResult:
    score: int
    contributions: tuple[EngagementContribution, ...]
    total_capped: bool = False


@dataclass(frozen=True)
class ScoreResult:
    fit: FitResult
    engagement: EngagementResult
    score: int
    mql: bool
    mql_reason: str
    computed_at: datetime

    def explanation(self) -> dict[str, Any]:
        """The reasons behind the numbers, as JSON-ready plain data (what readers are shown)."""
        return self._document(
            lambda c, value: {
                "key": c.key,
                "label": c.label,
                "matched": c.matched,
                "points": c.points,
                "value": value,
            },
            lambda c: {
                "key": c.key,
                "label": c.label,
                "units": c.units,
                "raw_points": c.raw_points,
                "decayed_points": c.decayed_points,
                "points": c.points,
                "capped": c.capped,
                "event_ids": list(c.event_ids),
            },
        )

    def stored_explanation(self) -> dict[str, Any]:
        """``explanation()`` without the labels and field names: what is stored with the score.

        A million leads each carried a ~2.5 KB document, most of it the model's own words
        repeated; this form is about a third of that. Labels come back from the model version
        (``expand_explanation``), so what a reader sees is exactly ``explanation()``."""
        return {
            "format": STORED_FORMAT,
            **self._document(
                lambda c, value: [c.key, c.matched, c.points, value],
                lambda c: [
                    *(c.key, c.units, c.raw_points, c.decayed_points, c.points, c.capped),
                    list(c.event_ids),
                ],
            ),
        }

    def _document(
        self,
        criterion: Callable[[FitContribution, Any], Any],
        rule: Callable[[EngagementContribution], Any],
    ) -> dict[str, Any]:
        fit, engagement = self.fit, self.engagement
        return {
            "fit": {
                "score": fit.score,
                "grade": fit.grade,
                # Most values are already JSON scalars; skip the call for those.
                "criteria": [
                    criterion(c, c.value if type(c.value) in _JSON_SCALARS else _jsonable(c.value))
                    for c in fit.contributions
                ],
                "knocked_out_by": list(fit.knocked_out_by),
            },
            "engagement": {
                "score": engagement.score,
                "rules": [rule(c) for c in engagement.contributions],
                "total_capped": engagement.total_capped,
            },
            "score": self.score,
            "mql": self.mql,
            "mql_reason": self.mql_reason,
            "computed_at": _isoformat(self.computed_at),
        }


STORED_FORMAT = 2


@dataclass(frozen=True)
class ExplanationLabels:
    """A model's words for its criteria and rules, by key (keys are unique within a model)."""

    criteria: Mapping[str, str]
    rules: Mapping[str, str]


def explanation_labels(model: ScoringModel) -> ExplanationLabels:
    return ExplanationLabels(
        criteria={c.key: c.label for c in model.icp.criteria},
        rules={r.key: r.label for r in model.rules},
    )


def expand_explanation(stored: Mapping[str, Any], labels: ExplanationLabels | None) -> dict[str, Any]:
    """A stored explanation in the form ``ScoreResult.explanation()`` gives, labels included.

    Explanations stored before the compact form are returned as they are. Without labels (the
    model version is gone) a criterion or rule is labelled by its key; keys the model does not
    know are labelled by the key too, so a reader never fails on an old document."""
    if not stored or stored.get("format") != STORED_FORMAT:
        return dict(stored or {})
    criteria = labels.criteria if labels else {}
    rules = labels.rules if labels else {}
    fit, engagement = stored.get("fit"), stored.get("engagement")
    fit = fit if isinstance(fit, Mapping) else {}
    engagement = engagement if isinstance(engagement, Mapping) else {}
    expanded = {key: value for key, value in stored.items() if key != "format"}
    expanded["fit"] = {
        "score": fit.get("score"),
        "grade": fit.get("grade"),
        "criteria": [
            {
                "key": key,
                "label": _word_for(criteria, key),
                "matched": matched,
                "points": points,
                "value": value,
            }
            for key, matched, points, value in _rows(fit.get("criteria"), 4)
        ],
        "knocked_out_by": list(fit.get("knocked_out_by") or []),
    }
    expanded["engagement"] = {
        "score": engagement.get("score"),
        "rules": [
            {
                "key": key,
                "label": _word_for(rules, key),
                "units": units,
                "raw_points": raw_points,
                "decayed_points": decayed_points,
                "points": points,
                "capped": capped,
                "event_ids": event_ids,
            }
            for key, units, raw_points, decayed_points, points, capped, event_ids in _rows(
                engagement.get("rules"), 7
            )
        ],
        "total_capped": engagement.get("total_capped"),
    }
    return expanded


def _word_for(words: Mapping[str, str], key: Any) -> str:
    return words.get(key, key) if isinstance(key, str) else str(key)


def _rows(items: Any, width: int) -> list[Sequence[Any]]:
    """The well-formed rows of a stored list (a damaged document loses rows, not the page)."""
    if not isinstance(items, list):
        return []
    return [row for row in items if isinstance(row, list) and len(row) == width]


# --------------------------------------------------------------------------------------------
# Matching helpers
# --------------------------------------------------------------------------------------------


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _fold(value: Any) -> Any:
    return value.strip().casefold() if isinstance(value, str) else value


def _as_number(value: Any) -> float | None:
    # bool is an int in Python, but "True employees" is never a size.
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


# A word is a run of characters for which str.isalnum() is true ([^\W_] is exactly that set).
_WORD = re.compile(r"[^\W_]+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


@lru_cache(maxsize=4096)
def _word_index(text: str) -> tuple[tuple[str, ...], frozenset[str]]:
    # Job titles repeat across leads and several conditions read the same one.
    words = tuple(_words(text))
    return words, frozenset(words)


def _contains_phrase(text: str, keyword: str) -> bool:
    # Whole words, not raw substrings: "intern" must not knock out "Head of International Sales".
    haystack, needle = _words(text), _words(keyword)
    if not needle:
        return False
    width = len(needle)
    return any(haystack[i : i + width] == needle for i in range(len(haystack) - width + 1))


def _matches(
    op: str, value: Any, values: Sequence[Any], minimum: float | None, maximum: float | None
) -> bool:
    if op == "exists":
        return bool(value) and not _is_missing(value)
    if _is_missing(value):
        return False
    if op == "in":
        folded = _fold(value)
        return any(folded == _fold(candidate) for candidate in values)
    if op == "equals":
        return bool(values) and _fold(value) == _fold(values[0])
    if op == "contains_any":
        return isinstance(value, str) and any(
            isinstance(keyword, str) and _contains_phrase(value, keyword) for keyword in values
        )
    if op == "range":
        number = _as_number(value)
        if number is None:
            return False
        return (minimum is None or number >= minimum) and (maximum is None or number <= maximum)
    raise ValueError(f"unknown op {op!r}; must be one of {', '.join(CRITERION_OPS)}")


def _lead_value(lead: LeadFacts, field_name: str) -> Any:
    if field_name == "email_domain":
        return lead.email_domain
    if field_name.startswith(ATTRIBUTES_PREFIX):
        return (lead.attributes or {}).get(field_name[len(ATTRIBUTES_PREFIX) :])
    if field_name in LEAD_FIELDS:
        return getattr(lead, field_name)
    raise ValueError(f"unknown lead field {field_name!r}")


def _filter_holds(flt: PropertyFilter, properties: Mapping[str, Any]) -> bool:
    value = properties.get(flt.key)
    if flt.op == "exists":
        # "Has a value": a duration of 0 seconds still exists.
        return not _is_missing(value)
    if _is_missing(value):
        return False
    if flt.op == "contains":
        return (
            isinstance(value, str) and isinstance(flt.value, str) and flt.value.casefold() in value.casefold()
        )
    if flt.op == "equals":
        return _fold(value) == _fold(flt.value)
    if flt.op == "in":
        folded = _fold(value)
        return any(folded == _fold(candidate) for candidate in flt.value or ())
    if flt.op in ("gte", "lte"):
        number, bound = _as_number(value), _as_number(flt.value)
        if number is None or bound is None:
            return False
        return number >= bound if flt.op == "gte" else number <= bound
    raise ValueError(f"unknown filter op {flt.op!r}; must be one of {', '.join(FILTER_OPS)}")


_GRADE_RANK = {grade: rank for rank, grade in enumerate(GRADES)}


def grade_at_least(grade: str, minimum: str) -> bool:
    """True when ``grade`` is as good as ``minimum`` (A > B > C > D). F never qualifies."""
    if type(grade) is str and type(minimum) is str and grade in _GRADE_RANK and minimum in _GRADE_RANK:
        return grade != "F" and _GRADE_RANK[grade] <= _GRADE_RANK[minimum]  # the common case, quickly
    for name, g in (("grade", grade), ("minimum", minimum)):
        if g not in GRADES:
            raise ValueError(f"{name}: unknown grade {g!r}; must be one of {', '.join(GRADES)}")
    return grade != "F" and GRADES.index(grade) <= GRADES.index(minimum)


def _grade_for(score: int, thresholds: Mapping[str, float]) -> str:
    for grade in THRESHOLD_GRADES:
        threshold = thresholds.get(grade)
        if threshold is not None and score >= threshold:
            return grade
    return "D"


def _points(value: float) -> float:
    # Two decimals is what a marketer reads; "+ 0.0" turns -0.0 into 0.0 for the JSON.
    # round(x, 2) goes through a decimal string and is slow. Unless x*100 is within 1e-4 of a
    # tie (its float error is below 1e-8 in this range), the nearest whole number n of x*100 is
    # unambiguous and n / 100 is the same correctly rounded double that round() returns.
    if type(value) is float and -1e6 < value < 1e6:
        scaled = value * 100.0
        whole = math.floor(scaled)
        fraction = scaled - whole
        if fraction < 0.4999:
            return whole / 100  # int / int: never -0.0
        if fraction > 0.5001:
            return (whole + 1) / 100
    elif type(value) is int:
        return value + 0.0  # round(int, 2) is the int itself
    return round(value, 2) + 0.0


_new_object = object.__new__


def _constructor[T](cls: type[T]) -> Callable[[dict[str, Any]], T]:
    """A fast ``cls(**fields)`` for a frozen result dataclass: ``construct(fields)``.

    The frozen ``__init__`` sets each field through ``object.__setattr__``, which was a fifth of
    the cost of scoring a lead; this installs the dict as the instance ``__dict__`` instead.
    Callers pass every field in declaration order, the order ``__init__`` fills ``__dict__`` in,
    so equality, repr and pickles are unchanged.
    """
    set_dict = vars(cls)["__dict__"].__set__

    def construct(fields: dict[str, Any]) -> T:
        obj = _new_object(cls)
        set_dict(obj, fields)
        return obj

    return construct


_new_fit_contribution = _constructor(FitContribution)
_new_fit_result = _constructor(FitResult)
_new_engagement_contribution = _constructor(EngagementContribution)
_new_engagement_result = _constructor(EngagementResult)
_new_score_result = _constructor(ScoreResult)
# For loaders building a chunk's ~10,000 facts: half the cost of InteractionFact(...).
new_interaction_fact = _constructor(InteractionFact)


# --------------------------------------------------------------------------------------------
# Compiled plans
#
# A full rescore scores about a million leads against one model, so the work that depends only
# on the model (folded value sets, keyword word lists, filter predicates, which rules look at
# which interaction type) is done once per model object and cached. Each compiled test keeps
# the exact semantics of ``_matches`` / ``_filter_holds``: it handles the common value types
# itself and hands anything unusual to those functions, so results and errors are unchanged.
# --------------------------------------------------------------------------------------------

_Test = Callable[[Any], bool]

# Builtin scalars: comparing one with a str is always False, so a set lookup over the str
# candidates gives the same answer as the ``any(folded == candidate ...)`` loop.
_PLAIN_SCALARS = (str, int, float, bool, type(None))


def _plain(values: Any) -> bool:
    return type(values) in (tuple, list) and all(type(v) in _PLAIN_SCALARS for v in values)


def _all_str(values: Any) -> bool:
    return type(values) in (tuple, list) and all(type(v) is str for v in values)


def _folded_strings(values: Sequence[Any]) -> frozenset[str]:
    return frozenset(v.strip().casefold() for v in values if type(v) is str)


def _has_run(words: tuple[str, ...], needle: tuple[str, ...]) -> bool:
    width = len(needle)
    return any(words[i : i + width] == needle for i in range(len(words) - width + 1))


def _compile_condition(op: str, values: Sequence[Any], minimum: Any, maximum: Any) -> _Test:
    """A one-argument ``_matches(op, value, values, minimum, maximum)``."""

    def generic(value: Any) -> bool:
        return _matches(op, value, values, minimum, maximum)

    if op == "in" and _plain(values):
        strings = _folded_strings(values)

        def is_in(value: Any) -> bool:
            if type(value) is str:
                text = value.strip()
                return bool(text) and text.casefold() in strings
            return generic(value)

        return is_in

    if op == "equals" and _plain(values) and values:
        first = _fold(values[0])

        def equals(value: Any) -> bool:
            if type(value) is str:
                text = value.strip()
                return bool(text) and text.casefold() == first
            return generic(value)

        return equals

    if op == "contains_any" and _plain(values):
        needles = [tuple(_words(k)) for k in values if type(k) is str]
        singles = frozenset(n[0] for n in needles if len(n) == 1)
        phrases = tuple(n for n in needles if len(n) > 1)

        def contains_any(value: Any) -> bool:
            if type(value) is str:
                words, word_set = _word_index(value)
                return not singles.isdisjoint(word_set) or any(
                    needle[0] in word_set and _has_run(words, needle) for needle in phrases
                )
            return generic(value)

        return contains_any

    if op == "range":

        def in_range(value: Any) -> bool:
            if type(value) is int:
                number = float(value)  # what _as_number does for an int, OverflowError included
            else:
                if _is_missing(value):
                    return False
                converted = _as_number(value)
                if converted is None:
                    return False
                number = converted
            return (minimum is None or number >= minimum) and (maximum is None or number <= maximum)

        return in_range

    return generic


def _compile_reader(field_name: str) -> Callable[[LeadFacts], Any]:
    """A one-argument ``_lead_value(lead, field_name)``."""
    if type(field_name) is not str:
        return lambda lead: _lead_value(lead, field_name)
    if field_name == "email_domain":
        return attrgetter("email_domain")
    if field_name.startswith(ATTRIBUTES_PREFIX):
        key = field_name[len(ATTRIBUTES_PREFIX) :]
        return lambda lead: (lead.attributes or {}).get(key)
    if field_name in LEAD_FIELDS:
        return attrgetter(field_name)
    return lambda lead: _lead_value(lead, field_name)  # raises "unknown lead field" when used


# Lead values repeat across a rescore ("software", "US", "vp", 250 employees) and a condition's
# outcome depends on the value alone, so it is remembered per condition for values whose equal
# copies are interchangeable: exact str, int and None (no value of one of these types equals a
# value of another). Bounded, so unusual data cannot grow it without limit.
_MEMO_TYPES = frozenset((str, int, type(None)))
_MEMO_LIMIT = 4096


def _remember(memo: dict[Any, Any], value: Any, outcome: Any) -> None:
    if len(memo) >= _MEMO_LIMIT:
        memo.clear()
    memo[value] = outcome


class _Criterion(NamedTuple):
    key: str
    label: str
    weight: float
    read: Callable[[LeadFacts], Any]
    test: _Test
    contributions: dict[Any, FitContribution]  # by value, see _MEMO_TYPES


class _KnockOut(NamedTuple):
    label: str
    read: Callable[[LeadFacts], Any]
    test: _Test
    outcomes: dict[Any, bool]  # by value, see _MEMO_TYPES


class _FitPlan(NamedTuple):
    criteria: tuple[_Criterion, ...]
    knockouts: tuple[_KnockOut, ...]
    possible: float | None  # None: the weights could not be summed up front, sum them per lead


def _compile_icp(icp: ICP) -> _FitPlan:
    criteria = tuple(
        _Criterion(
            c.key,
            c.label,
            c.weight,
            _compile_reader(c.field),
            _compile_condition(c.op, c.values, c.min, c.max),
            {},
        )
        for c in icp.criteria
    )
    knockouts = tuple(
        _KnockOut(k.label, _compile_reader(k.field), _compile_condition(k.op, k.values, k.min, k.max), {})
        for k in icp.knockouts
    )
    try:
        possible = sum(c.weight for c in icp.criteria if c.weight > 0)
    except Exception:  # odd weights raise where compute_fit sums them, after the criteria
        possible = None
    return _FitPlan(criteria, knockouts, possible)


def _compile_filter(flt: PropertyFilter) -> _Test:
    """A one-argument ``_filter_holds(flt, properties)``."""
    key, op, target = flt.key, flt.op, flt.value

    def generic(properties: Mapping[str, Any]) -> bool:
        return _filter_holds(flt, properties)

    if op == "contains" and type(target) is str:
        needle = target.casefold()

        def contains(properties: Mapping[str, Any]) -> bool:
            value = properties.get(key)
            if type(value) is str:
                return needle in value.casefold() and not _is_missing(value)
            return value is not None and generic(properties)

        return contains

    if (op == "equals" and type(target) in _PLAIN_SCALARS) or (
        op == "in" and (_plain(target) or target is None)
    ):
        strings = _folded_strings(target or ()) if op == "in" else frozenset((_fold(target),))

        def is_in(properties: Mapping[str, Any]) -> bool:
            value = properties.get(key)
            if type(value) is str:
                text = value.strip()
                return bool(text) and text.casefold() in strings
            return value is not None and generic(properties)

        return is_in

    if op in ("gte", "lte"):
        try:
            bound = _as_number(target)
        except Exception:  # e.g. an int too large for a float: raise per event, as before
            return generic
        at_least = op == "gte"

        def compare(properties: Mapping[str, Any]) -> bool:
            value = properties.get(key)
            if _is_missing(value) or (number := _as_number(value)) is None or bound is None:
                return False
            return number >= bound if at_least else number <= bound

        return compare

    if op == "exists":
        return lambda properties: not _is_missing(properties.get(key))
    return generic


class _RulePlan(NamedTuple):
    rule: EngagementRule
    types: tuple[str, ...]  # rule.types without repeats ("page_view" listed twice matches once)
    tests: tuple[_Test, ...]  # one per filter, all must hold
    # The rule's fields, unpacked once per call instead of read one attribute at a time.
    per: str
    points: float
    min_count: int
    cap: float | None
    half_life_days: float | None
    expiry_days: float | None


class _RulesPlan(NamedTuple):
    rules: tuple[_RulePlan, ...]
    # Interaction type -> indices of the rules that look at it, in rule order. None when some
    # rule's types are not a plain list of strings; then every rule is asked (``in rule.types``).
    by_type: dict[str, tuple[int, ...]] | None
    # The set of types a lead has -> the rules to run and the types each of them looks at.
    # Leads have few distinct type sets, so this is worked out once per set.
    selections: dict[frozenset[str], tuple[tuple[_RulePlan, tuple[str, ...]], ...]]


def _compile_filters(rule: EngagementRule) -> tuple[_Test, ...]:
    try:
        return tuple(_compile_filter(flt) for flt in rule.filters)
    except Exception:  # malformed filters: fail when an event is checked against them, as before
        return (lambda properties: all(_filter_holds(flt, properties) for flt in rule.filters),)


def _compile_rules(rules: Iterable[EngagementRule]) -> _RulesPlan:
    plans = tuple(
        _RulePlan(
            rule,
            tuple(dict.fromkeys(rule.types)) if _all_str(rule.types) else (),
            _compile_filters(rule),
            rule.per,
            rule.points,
            rule.min_count,
            rule.cap,
            rule.half_life_days,
            rule.expiry_days,
        )
        for rule in rules
    )
    if not all(_all_str(plan.rule.types) for plan in plans):
        return _RulesPlan(plans, None, {})
    by_type: dict[str, list[int]] = {}
    for index, plan in enumerate(plans):
        for type_ in plan.types:
            by_type.setdefault(type_, []).append(index)
    return _RulesPlan(plans, {type_: tuple(indices) for type_, indices in by_type.items()}, {})


class _ModelPlan(NamedTuple):
    fit: _FitPlan
    rules: _RulesPlan | None  # None: the rules do not compile; they raise when scored, as before


_PlanCache = dict[int, tuple[weakref.ref[Any], Any]]
_ICP_PLANS: _PlanCache = {}
_MODEL_PLANS: _PlanCache = {}


def _cached_plan[P](cache: _PlanCache, owner: Any, build: Callable[[Any], P]) -> P:
    """``build(owner)``, computed once per live ``owner`` object.

    Keyed by ``id(owner)`` because models hold a dict and so cannot be hashed; the weak
    reference is checked on every hit, so an id reused by a newer object never finds the old
    plan, and its callback drops the entry when the owner is collected. Models are frozen, so a
    plan cannot go stale while its owner lives.
    """
    key = id(owner)
    entry = cache.get(key)
    if entry is not None and entry[0]() is owner:
        return entry[1]
    plan = build(owner)

    def forget(ref: weakref.ref[Any]) -> None:
        if cache.get(key, (None,))[0] is ref:
            cache.pop(key, None)

    try:
        cache[key] = (weakref.ref(owner, forget), plan)
    except TypeError:  # not weak-referenceable (a subclass with __slots__): just don't cache
        pass
    return plan


def _icp_plan(icp: ICP) -> _FitPlan:
    return _cached_plan(_ICP_PLANS, icp, _compile_icp)


def _compile_model(model: ScoringModel) -> _ModelPlan:
    try:
        rules = _compile_rules(model.rules)
    except Exception:
        rules = None
    return _ModelPlan(_compile_icp(model.icp), rules)


def _model_plan(model: ScoringModel) -> _ModelPlan:
    return _cached_plan(_MODEL_PLANS, model, _compile_model)


# compute_engagement gets bare rule tuples (which cannot be weakly referenced), so a few are
# kept alive here with their plans; holding the tuple keeps its id from being reused.
_RULES_PLANS: dict[int, tuple[tuple[EngagementRule, ...], _RulesPlan]] = {}


def _rules_plan(rules: Iterable[EngagementRule]) -> _RulesPlan:
    if type(rules) is not tuple:  # a list may change between calls
        return _compile_rules(rules)
    entry = _RULES_PLANS.get(id(rules))
    if entry is not None and entry[0] is rules:
        return entry[1]
    plan = _compile_rules(rules)
    if len(_RULES_PLANS) >= 64:
        _RULES_PLANS.clear()
    _RULES_PLANS[id(rules)] = (rules, plan)
    return plan


# --------------------------------------------------------------------------------------------
# Fit
# --------------------------------------------------------------------------------------------


def compute_fit(icp: ICP, lead: LeadFacts) -> FitResult:
    """Fit = matched weights (floored at 0) as a share of all positive weights, 0..100.

    A matched knock-out makes the grade F whatever else matches; the score is kept so the
    marketer can still see how close the lead was.
    """
    return _fit(_icp_plan(icp), icp, lead)


def _fit(plan: _FitPlan, icp: ICP, lead: LeadFacts) -> FitResult:
    contributions: list[FitContribution] = []
    matched_weight = 0.0
    memo_types = _MEMO_TYPES
    for key, label, weight, read, test, memo in plan.criteria:
        value = read(lead)
        remember = type(value) in memo_types
        contribution = memo.get(value) if remember else None
        if contribution is None:
            matched = test(value)
            points = weight if matched else 0
            contribution = _new_fit_contribution(
                {"key": key, "label": label, "matched": matched, "points": points, "value": value}
            )
            if remember:
                _remember(memo, value, contribution)
        matched_weight += contribution.points
        contributions.append(contribution)

    possible = plan.possible
    if possible is None:
        possible = sum(c.weight for c in icp.criteria if c.weight > 0)
    if possible <= 0:
        score = 0
    else:
        score = min(100, max(0, round(100 * max(0.0, matched_weight) / possible)))

    knocked_out = []
    for label, read, test, memo in plan.knockouts:
        value = read(lead)
        if type(value) in memo_types:
            hit = memo.get(value)
            if hit is None:
                hit = test(value)
                _remember(memo, value, hit)
        else:
            hit = test(value)
        if hit:
            knocked_out.append(label)
    knocked_out_by = tuple(knocked_out)
    grade = "F" if knocked_out_by else _grade_for(score, icp.grade_thresholds)
    return _new_fit_result(
        {
            "score": score,
            "grade": grade,
            "contributions": tuple(contributions),
            "knocked_out_by": knocked_out_by,
        }
    )


# --------------------------------------------------------------------------------------------
# Engagement
# --------------------------------------------------------------------------------------------


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name}: must be timezone-aware")


def _passes(tests: tuple[_Test, ...], properties: Mapping[str, Any]) -> bool:
    return all(test(properties) for test in tests)


def _select_rules(plan: _RulesPlan, present: frozenset[str]) -> tuple[tuple[_RulePlan, tuple[str, ...]], ...]:
    """The rules that look at any of the ``present`` types, in rule order, each with the
    present types it looks at."""
    by_type = plan.by_type or {}
    indices = sorted({index for type_ in present for index in by_type.get(type_, ())})
    return tuple((plan.rules[i], tuple(t for t in plan.rules[i].types if t in present)) for i in indices)


def _rules_with_events(
    plan: _RulesPlan, events: Sequence[InteractionFact]
) -> list[tuple[_RulePlan, list[int]]]:
    """Each rule that has events of its types, in rule order, with their positions in order."""
    by_type = plan.by_type
    if by_type is not None:
        positions_by_type: dict[str, list[int]] = {}
        for position, event in enumerate(events):
            event_type = event.type
            if type(event_type) is not str:
                break
            bucket = positions_by_type.get(event_type)
            if bucket is None:
                positions_by_type[event_type] = [position]
            else:
                bucket.append(position)
        else:
            present = frozenset(positions_by_type)
            selection = plan.selections.get(present)
            if selection is None:
                selection = _select_rules(plan, present)
                _remember(plan.selections, present, selection)
            found = []
            for rule_plan, types in selection:
                if len(types) == 1:
                    positions = positions_by_type[types[0]]
                else:
                    # Merge back into event order, which fixes the order points add up in.
                    positions = sorted(chain.from_iterable(positions_by_type[t] for t in types))
                found.append((rule_plan, positions))
            return found
    # Odd types (not plain strings): compare each with each rule's types, exactly as `in` does.
    found = []
    for rule_plan in plan.rules:
        types = rule_plan.rule.types
        positions = [p for p, event in enumerate(events) if event.type in types]
        if positions:
            found.append((rule_plan, positions))
    return found


def _rule_contribution(
    plan: _RulePlan,
    positions: list[int],
    events: Sequence[InteractionFact],
    occurred: list[datetime],
    ages: list[float],
    sort_keys: list[tuple[datetime, Any]],
    sorted_ids: dict[int, list[Any]],
) -> EngagementContribution | None:
    """One rule's contribution from the events (by position) of the types it looks at.

    ``occurred``, ``ages`` and ``sort_keys`` are per event position, computed once per lead;
    ``sorted_ids`` holds the event ids of position lists already sorted for another rule.
    """
    rule, _, tests, per, points, min_count, cap, half_life, expiry = plan
    given = positions
    if len(tests) == 1:
        test = tests[0]
        positions = [p for p in positions if test(events[p].properties or {})]
    elif tests:
        positions = [p for p in positions if _passes(tests, events[p].properties or {})]
    # A unit lives while its newest event does, so dropping expired events first is the same
    # as expiring whole units.
    if expiry is not None:
        positions = [p for p in positions if ages[p] <= expiry]
    if not positions:
        return None

    # The newest event of each unit, whose age the unit decays by. "Newest" is decided by
    # comparing the datetimes, first one wins a tie, exactly like max() over the unit's events.
    if per == "event":
        newest = positions
    elif per == "once":
        newest = [max(positions, key=occurred.__getitem__)]
    else:
        if per == "distinct_day":
            # The UTC calendar day; astimezone(UTC) returns a UTC datetime itself.
            moments = [occurred[p] for p in positions]
            groups = [(m if m.tzinfo is UTC else m.astimezone(UTC)).date() for m in moments]
        elif per == "distinct_type":
            groups = [events[p].type for p in positions]
        else:
            raise ValueError(f"unknown per {per!r}; must be one of {', '.join(PER_KINDS)}")
        newest_by_group: dict[Any, int] = {}  # in order of first appearance, like the units
        for p, group in zip(positions, groups, strict=True):
            best = newest_by_group.get(group)
            if best is None or occurred[p] > occurred[best]:
                newest_by_group[group] = p
        newest = list(newest_by_group.values())

    units = len(newest)
    # "once" has one unit at most, so its min_count counts events ("3+ clicks: 5 points once").
    if (len(positions) if per == "once" else units) < min_count:
        return None

    decayed = 0.0
    if half_life is None:
        step = points * 1.0
        for _ in newest:
            decayed += step
    else:
        for p in newest:
            decayed += points * 0.5 ** (ages[p] / half_life)

    capped = cap is not None and abs(decayed) > cap
    counted = math.copysign(cap, decayed) if capped and cap is not None else decayed
    decayed_points = _points(decayed)
    if len(positions) == 1:
        event_ids: tuple[Any, ...] = (events[positions[0]].id,)
    else:
        # Rules without filters over the same type share their events; sort those once. (The
        # lists given stay alive while the lead is scored, so their ids identify them.)
        ids = sorted_ids.get(id(given)) if positions is given else None
        if ids is None:
            ids = [events[p].id for p in sorted(positions, key=sort_keys.__getitem__)]
            if positions is given:
                sorted_ids[id(given)] = ids
        event_ids = tuple(ids)
    return _new_engagement_contribution(
        {
            "key": rule.key,
            "label": rule.label,
            "units": units,
            "raw_points": _points(points * units),
            "decayed_points": decayed_points,
            "points": decayed_points if counted is decayed else _points(counted),
            "capped": capped,
            "event_ids": event_ids,
        }
    )


def compute_engagement(
    rules: Sequence[EngagementRule],
    interactions: Iterable[InteractionFact],
    now: datetime,
    total_cap: float | None = None,
) -> EngagementResult:
    """Sum each rule's points (decayed, then capped), then clamp the total to [0, total_cap].

    The score is the rounded sum of the already-rounded contribution points, so the
    explanation always adds up: ``round(sum(c.points)) == score`` unless a clamp applied.
    """
    return _engagement(None, rules, interactions, now, total_cap)


def _engagement(
    plan: _RulesPlan | None,
    rules: Iterable[EngagementRule],
    interactions: Iterable[InteractionFact],
    now: datetime,
    total_cap: float | None,
) -> EngagementResult:
    """compute_engagement, with ``rules`` already compiled into ``plan`` (or compiled here)."""
    if now.tzinfo is not UTC:
        _require_aware(now, "now")
    if total_cap is not None and total_cap < 0:
        raise ValueError("total_cap: must be zero or more")
    events = tuple(interactions)
    for event in events:
        if event.occurred_at.tzinfo is not UTC:  # UTC, what the database returns, has an offset
            _require_aware(event.occurred_at, f"interaction {event.id}.occurred_at")
    if plan is None:
        plan = _rules_plan(rules)

    # Each event's age, once per lead rather than once per rule.
    occurred = [event.occurred_at for event in events]
    day = _SECONDS_PER_DAY
    ages = [(now - moment).total_seconds() / day for moment in occurred]
    if ages and min(ages) < 0.0:
        # Events "in the future" (clock skew, backfills) are as fresh as possible, never bonus points.
        ages = [age if age > 0.0 else 0.0 for age in ages]

    sort_keys = [(moment, event.id) for moment, event in zip(occurred, events, strict=True)]

    contributions = []
    sorted_ids: dict[int, list[Any]] = {}
    for rule_plan, positions in _rules_with_events(plan, events):
        contribution = _rule_contribution(rule_plan, positions, events, occurred, ages, sort_keys, sorted_ids)
        if contribution is not None:
            contributions.append(contribution)
    rounded = round(sum([c.points for c in contributions]))
    total_capped = total_cap is not None and rounded > total_cap
    if total_capped and total_cap is not None:
        score = math.floor(total_cap)
    else:
        score = max(0, rounded)  # negative engagement reads as "none", never below zero
    return _new_engagement_result(
        {"score": int(score), "contributions": tuple(contributions), "total_capped": total_capped}
    )


# --------------------------------------------------------------------------------------------
# The lead score and the MQL rule
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InteractionReads:
    """What of a lead's interactions a model reads (see ``interaction_reads``)."""

    types: frozenset[str]  # interactions of other types change nothing
    property_types: frozenset[str]  # the types whose properties some rule filter looks at
    property_keys: frozenset[str] = frozenset()  # the properties those filters look at


def interaction_reads(model: ScoringModel) -> InteractionReads:
    """The interactions a model can see: the types its rules and fast lane name, the types
    whose properties a rule's filters test, and the property keys those filters read. A loader
    may leave out every other interaction, the properties of every other type and every other
    property key, without changing any score or explanation: a filter reads its own key only,
    and an absent key reads like a null one."""
    types = set(model.fast_lane_types)
    property_types: set[str] = set()
    property_keys: set[str] = set()
    for rule in model.rules:
        types.update(rule.types)
        if rule.filters:
            property_types.update(rule.types)
            property_keys.update(f.key for f in rule.filters)
    return InteractionReads(frozenset(types), frozenset(property_types), frozenset(property_keys))


def score_lead(
    model: ScoringModel,
    lead: LeadFacts,
    interactions: Iterable[InteractionFact],
    now: datetime,
) -> ScoreResult:
    """Fit, engagement, the combined score and whether the lead is an MQL.

    Combined score: ``round((fit.score + engagement.score) / 2)`` with Python's round (halves go
    to the even neighbour), so it stays 0..100 while the total cap is 100 or less.

    MQL when engaged enough (engagement >= threshold) and fit enough (grade >= mql_min_grade),
    reason "threshold"; or, via the fast lane, when the lead ever raised a hand (a fast-lane
    type, any age) and the grade is >= fast_lane_min_grade, reason "fast_lane". A knock-out
    (grade F) never qualifies.
    """
    events = tuple(interactions)
    plan = _model_plan(model)
    fit = _fit(plan.fit, model.icp, lead)
    engagement = _engagement(plan.rules, model.rules, events, now, model.total_cap)
    combined = round((fit.score + engagement.score) / 2)

    by_threshold = engagement.score >= model.mql_engagement_threshold and grade_at_least(
        fit.grade, model.mql_min_grade
    )
    if by_threshold and model.mql_min_probability is not None:
        probability = lead.conversion_probability
        by_threshold = probability is not None and probability >= model.mql_min_probability
    fast_lane_types = model.fast_lane_types
    by_fast_lane = any(e.type in fast_lane_types for e in events) and grade_at_least(
        fit.grade, model.fast_lane_min_grade
    )
    reason = "threshold" if by_threshold else "fast_lane" if by_fast_lane else ""
    return _new_score_result(
        {
            "fit": fit,
            "engagement": engagement,
            "score": combined,
            "mql": bool(reason),
            "mql_reason": reason,
            "computed_at": now,
        }
    )


# --------------------------------------------------------------------------------------------
# Serialisation and validation
# --------------------------------------------------------------------------------------------


class ModelValidationError(ValueError):
    """Every problem found in a scoring model dict, each naming its path."""

    def __init__(self, errors: Sequence[tuple[str, str]]) -> None:
        self.errors: tuple[tuple[str, str], ...] = tuple(errors)
        super().__init__("; ".join(f"{path}: {message}" for path, message in self.errors))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str) or _is_number(value) or isinstance(value, bool)


class _Reader:
    """Reads one JSON object, collecting errors by path so the editor can show all of them."""

    def __init__(
        self,
        data: Any,
        path: str,
        errors: list[tuple[str, str]],
        allowed: Sequence[str] | None,
    ) -> None:
        self.path, self.errors = path, errors
        if not isinstance(data, Mapping):
            self.error(path or "model", "must be an object")
            data = {}
        self.data: Mapping[str, Any] = data
        for key in data:
            if allowed is not None and key not in allowed:
                self.error(_join(path, str(key)), "unknown field")

    def error(self, path: str, message: str) -> None:
        self.errors.append((path, message))

    def at(self, key: str) -> str:
        return _join(self.path, key)

    def has(self, key: str) -> bool:
        return key in self.data

    def text(self, key: str, *, required: bool = True) -> str:
        if key not in self.data:
            if required:
                self.error(self.at(key), "is required")
            return ""
        value = self.data[key]
        if not isinstance(value, str) or (required and not value.strip()):
            self.error(self.at(key), "must be a non-empty string")
            return ""
        return value

    def choice(self, key: str, options: Sequence[str], default: str | None = None) -> str:
        if key not in self.data and default is not None:
            return default
        value = self.data.get(key)
        if value not in options:
            self.error(self.at(key), f"must be one of {', '.join(options)}")
            return default if default is not None else options[0]
        return value

    def number(
        self,
        key: str,
        default: float | None,
        *,
        nullable: bool = True,
        positive: bool = False,
        non_negative: bool = False,
    ) -> Any:
        value = self.data.get(key, default)
        if value is None and nullable:
            return None
        if not _is_number(value):
            self.error(self.at(key), "must be a number" + (" or null" if nullable else ""))
            return default
        if positive and value <= 0:
            self.error(self.at(key), "must be greater than 0")
        if non_negative and value < 0:
            self.error(self.at(key), "must be 0 or more")
        return value

    def items(self, key: str, *, required: bool = False) -> list[Any]:
        if key not in self.data:
            if required:
                self.error(self.at(key), "is required")
            return []
        value = self.data[key]
        if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
            self.error(self.at(key), "must be a list")
            return []
        return list(value)


_CRITERION_KEYS = ("key", "label", "field", "op", "values", "min", "max", "weight")
_KNOCKOUT_KEYS = ("key", "label", "field", "op", "values", "min", "max")
_RULE_KEYS = (
    "key",
    "label",
    "types",
    "points",
    "filters",
    "per",
    "min_count",
    "cap",
    "half_life_days",
    "expiry_days",
)
_MODEL_KEYS = (
    "icp",
    "rules",
    "mql_engagement_threshold",
    "mql_min_grade",
    "total_cap",
    "fast_lane_types",
    "fast_lane_min_grade",
    "mql_min_probability",
)


def _read_condition(
    reader: _Reader, *, allowed_fields: Sequence[str]
) -> tuple[str, str, tuple[Any, ...], Any, Any]:
    """The part criteria and knock-outs share: field, op, values, min, max."""
    field_name = reader.text("field")
    if field_name and field_name not in allowed_fields:
        is_attribute = (
            field_name.startswith(ATTRIBUTES_PREFIX) and field_name[len(ATTRIBUTES_PREFIX) :].strip()
        )
        if not is_attribute:
            options = ", ".join([*allowed_fields, ATTRIBUTES_PREFIX + "<key>"])
            reader.error(reader.at("field"), f"must be one of {options}")
    op = reader.choice("op", CRITERION_OPS)
    values = reader.items("values")
    for index, value in enumerate(values):
        if not _is_scalar(value):
            reader.error(f"{reader.at('values')}[{index}]", "must be a string or a number")
    minimum = reader.number("min", None)
    maximum = reader.number("max", None)
    if op in ("in", "contains_any", "equals") and not values:
        reader.error(reader.at("values"), f"needs at least one value for op {op}")
    if op == "contains_any":
        for index, value in enumerate(values):
            if not isinstance(value, str) or not value.strip():
                reader.error(f"{reader.at('values')}[{index}]", "must be a non-empty keyword")
    if op == "range":
        if minimum is None and maximum is None:
            reader.error(reader.at("min"), "range needs min, max or both")
        elif minimum is not None and maximum is not None and minimum > maximum:
            reader.error(reader.at("max"), "must not be less than min")
    return field_name, op, tuple(values), minimum, maximum


def _check_unique_keys(keys: Sequence[str], path: str, errors: list[tuple[str, str]]) -> None:
    seen: set[str] = set()
    for index, key in enumerate(keys):
        if key and key in seen:
            errors.append((f"{path}[{index}].key", f"duplicate key {key!r}"))
        seen.add(key)


def _read_icp(data: Any, path: str, errors: list[tuple[str, str]]) -> ICP:
    reader = _Reader(data, path, errors, ("criteria", "knockouts", "grade_thresholds"))

    criteria: list[Criterion] = []
    for index, item in enumerate(reader.items("criteria", required=True)):
        r = _Reader(item, f"{reader.at('criteria')}[{index}]", errors, _CRITERION_KEYS)
        key, label = r.text("key"), r.text("label")
        field_name, op, values, minimum, maximum = _read_condition(r, allowed_fields=LEAD_FIELDS)
        weight = r.number("weight", 0, nullable=False)
        criteria.append(Criterion(key, label, field_name, op, values, minimum, maximum, weight))
    _check_unique_keys([c.key for c in criteria], reader.at("criteria"), errors)

    knockouts: list[KnockOut] = []
    for index, item in enumerate(reader.items("knockouts")):
        r = _Reader(item, f"{reader.at('knockouts')}[{index}]", errors, _KNOCKOUT_KEYS)
        key, label = r.text("key"), r.text("label")
        field_name, op, values, minimum, maximum = _read_condition(
            r, allowed_fields=(*LEAD_FIELDS, "email_domain")
        )
        knockouts.append(KnockOut(key, label, field_name, op, values, minimum, maximum))
    _check_unique_keys([k.key for k in knockouts], reader.at("knockouts"), errors)

    thresholds: dict[str, float] = dict(DEFAULT_GRADE_THRESHOLDS)
    if reader.has("grade_thresholds"):
        t = _Reader(data["grade_thresholds"], reader.at("grade_thresholds"), errors, None)
        thresholds = {}
        for grade, value in t.data.items():
            if grade not in THRESHOLD_GRADES:
                t.error(t.at(str(grade)), f"must be one of {', '.join(THRESHOLD_GRADES)}")
            elif not _is_number(value) or not 0 <= value <= 100:
                t.error(t.at(grade), "must be a number from 0 to 100")
            else:
                thresholds[grade] = value
        present = [g for g in THRESHOLD_GRADES if g in thresholds]
        for better, worse in zip(present, present[1:], strict=False):
            if thresholds[better] < thresholds[worse]:
                t.error(t.at(better), f"must not be lower than the {worse} threshold")
    return ICP(tuple(criteria), tuple(knockouts), thresholds)


def _read_filter(data: Any, path: str, errors: list[tuple[str, str]]) -> PropertyFilter:
    r = _Reader(data, path, errors, ("key", "op", "value"))
    key = r.text("key")
    op = r.choice("op", FILTER_OPS)
    value = r.data.get("value")
    if op == "contains" and (not isinstance(value, str) or not value):
        r.error(r.at("value"), "must be a non-empty string for op contains")
    elif op == "equals" and not _is_scalar(value):
        r.error(r.at("value"), "must be a string or a number for op equals")
    elif op == "in":
        if isinstance(value, str) or not isinstance(value, list | tuple) or not value:
            r.error(r.at("value"), "must be a non-empty list for op in")
            value = ()
        else:
            for index, candidate in enumerate(value):
                if not _is_scalar(candidate):
                    r.error(f"{r.at('value')}[{index}]", "must be a string or a number")
            value = tuple(value)
    elif op in ("gte", "lte") and not _is_number(value):
        r.error(r.at("value"), f"must be a number for op {op}")
    elif op == "exists" and value is not None:
        r.error(r.at("value"), "must be null for op exists")
    return PropertyFilter(key, op, value)


def _read_types(reader: _Reader, key: str, *, required: bool) -> tuple[str, ...]:
    types = reader.items(key, required=required)
    if required and reader.has(key) and not types:
        reader.error(reader.at(key), "needs at least one interaction type")
    for index, name in enumerate(types):
        if name not in INTERACTION_TYPES:
            reader.error(
                f"{reader.at(key)}[{index}]",
                f"unknown interaction type {name!r}; must be one of {', '.join(INTERACTION_TYPES)}",
            )
    return tuple(types)


def _read_rule(data: Any, path: str, errors: list[tuple[str, str]]) -> EngagementRule:
    r = _Reader(data, path, errors, _RULE_KEYS)
    key, label = r.text("key"), r.text("label")
    types = _read_types(r, "types", required=True)
    if not r.has("points"):
        r.error(r.at("points"), "is required")
    points = r.number("points", 0, nullable=False)
    filters = tuple(
        _read_filter(item, f"{r.at('filters')}[{index}]", errors)
        for index, item in enumerate(r.items("filters"))
    )
    per = r.choice("per", PER_KINDS, default="event")
    min_count = r.data.get("min_count", 1)
    if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
        r.error(r.at("min_count"), "must be a whole number of 1 or more")
        min_count = 1
    cap = r.number("cap", None, non_negative=True)
    half_life_days = r.number("half_life_days", None, positive=True)
    expiry_days = r.number("expiry_days", None, positive=True)
    return EngagementRule(
        key, label, types, points, filters, per, min_count, cap, half_life_days, expiry_days
    )


def model_from_dict(data: Mapping[str, Any]) -> ScoringModel:
    """Build a model from its stored JSON form, or raise ``ModelValidationError`` (a
    ``ValueError``) naming every bad path, e.g. ``rules[2].per: must be one of ...``."""
    errors: list[tuple[str, str]] = []
    reader = _Reader(data, "", errors, _MODEL_KEYS)
    if not reader.has("icp"):
        reader.error("icp", "is required")
    icp = _read_icp(reader.data.get("icp", {}), "icp", errors)
    rules = tuple(
        _read_rule(item, f"rules[{index}]", errors)
        for index, item in enumerate(reader.items("rules", required=True))
    )
    _check_unique_keys([rule.key for rule in rules], "rules", errors)
    threshold = reader.number("mql_engagement_threshold", 50, nullable=False, non_negative=True)
    qualifying_grades = GRADES[:-1]  # a knock-out grade cannot be a minimum
    mql_min_grade = reader.choice("mql_min_grade", qualifying_grades, default="B")
    total_cap = reader.number("total_cap", 100, positive=True)
    if reader.has("fast_lane_types"):
        fast_lane_types = _read_types(reader, "fast_lane_types", required=False)
    else:
        fast_lane_types = ScoringModel.fast_lane_types
    fast_lane_min_grade = reader.choice("fast_lane_min_grade", qualifying_grades, default="C")
    min_probability = reader.number("mql_min_probability", None, non_negative=True)
    if _is_number(min_probability) and min_probability > 1:
        reader.error(reader.at("mql_min_probability"), "must be a probability from 0 to 1")
    if errors:
        raise ModelValidationError(errors)
    return ScoringModel(
        icp=icp,
        rules=rules,
        mql_engagement_threshold=threshold,
        mql_min_grade=mql_min_grade,
        total_cap=total_cap,
        fast_lane_types=fast_lane_types,
        fast_lane_min_grade=fast_lane_min_grade,
        mql_min_probability=min_probability,
    )


def _condition_to_dict(item: Criterion | KnockOut) -> dict[str, Any]:
    return {
        "key": item.key,
        "label": item.label,
        "field": item.field,
        "op": item.op,
        "values": list(item.values),
        "min": item.min,
        "max": item.max,
    }


def _filter_to_dict(flt: PropertyFilter) -> dict[str, Any]:
    value = list(flt.value) if isinstance(flt.value, tuple | list) else flt.value
    return {"key": flt.key, "op": flt.op, "value": value}


def model_to_dict(model: ScoringModel) -> dict[str, Any]:
    """The stored JSON form. Every field is written out, defaults included, so a stored
    model means the same thing even if a default in this module changes."""
    return {
        "icp": {
            "criteria": [{**_condition_to_dict(c), "weight": c.weight} for c in model.icp.criteria],
            "knockouts": [_condition_to_dict(k) for k in model.icp.knockouts],
            "grade_thresholds": dict(model.icp.grade_thresholds),
        },
        "rules": [
            {
                "key": rule.key,
                "label": rule.label,
                "types": list(rule.types),
                "points": rule.points,
                "filters": [_filter_to_dict(flt) for flt in rule.filters],
                "per": rule.per,
                "min_count": rule.min_count,
                "cap": rule.cap,
                "half_life_days": rule.half_life_days,
                "expiry_days": rule.expiry_days,
            }
            for rule in model.rules
        ],
        "mql_engagement_threshold": model.mql_engagement_threshold,
        "mql_min_grade": model.mql_min_grade,
        "total_cap": model.total_cap,
        "fast_lane_types": list(model.fast_lane_types),
        "fast_lane_min_grade": model.fast_lane_min_grade,
        "mql_min_probability": model.mql_min_probability,
    }


_JSON_SCALARS = frozenset((str, int, bool, type(None)))

# (moment, moment.isoformat()) for the last moment formatted: a rescore stamps every lead with
# the same `now`, and isoformat() is a measurable part of an explanation.
_last_isoformat: tuple[datetime | None, str] = (None, "")


def _isoformat(moment: datetime) -> str:
    global _last_isoformat
    last, text = _last_isoformat
    if last is not moment:
        text = moment.isoformat()
        _last_isoformat = (moment, text)
    return text


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)  # Decimal, UUID, ...: readable beats clever


# --------------------------------------------------------------------------------------------
# The default model: a B2B SaaS starting point a marketer can read and then tune.
# --------------------------------------------------------------------------------------------


def _rule(
    key: str,
    label: str,
    types: list[str],
    points: float,
    *,
    filters: list[dict[str, Any]] | None = None,
    per: str = "event",
    min_count: int = 1,
    cap: float | None = None,
    half_life_days: float | None = None,
    expiry_days: float | None = None,
) -> dict[str, Any]:
    # Spells out every field so DEFAULT_MODEL_DICT is already in the stored (explicit) form.
    return {
        "key": key,
        "label": label,
        "types": types,
        "points": points,
        "filters": filters or [],
        "per": per,
        "min_count": min_count,
        "cap": cap,
        "half_life_days": half_life_days,
        "expiry_days": expiry_days,
    }


def _condition(
    key: str,
    label: str,
    field_name: str,
    op: str,
    values: list[Any] | None = None,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
) -> dict[str, Any]:
    return {
        "key": key,
        "label": label,
        "field": field_name,
        "op": op,
        "values": values or [],
        "min": minimum,
        "max": maximum,
    }


def _criterion(weight: float, *args: Any, **kwargs: Any) -> dict[str, Any]:
    return {**_condition(*args, **kwargs), "weight": weight}


_PERSONAL_EMAIL_DOMAINS = [
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "hotmail.com",
    "outlook.com",
    "live.com",
    "aol.com",
    "icloud.com",
    "proton.me",
    "protonmail.com",
    "gmx.de",
    "web.de",
    "mail.ru",
    "yandex.ru",
    "qq.com",
    "163.com",
]
_COMPETITOR_DOMAINS = [
    "hubspot.com",
    "salesforce.com",
    "marketo.com",
    "pardot.com",
    "mautic.org",
    "odoo.com",
]
_CONVERSION_TYPES = [
    "form_submission",
    "content_download",
    "webinar_registration",
    "trial_signup",
    "demo_request",
    "contact_request",
]


def _url_contains(fragment: str) -> list[dict[str, Any]]:
    return [{"key": "url", "op": "contains", "value": fragment}]


def _asset_stage(stage: str) -> list[dict[str, Any]]:
    return [{"key": "asset_stage", "op": "equals", "value": stage}]


DEFAULT_MODEL_DICT: dict[str, Any] = {
    "icp": {
        "criteria": [
            _criterion(
                20,
                "industry_target",
                "Industry is one we sell to (software, fintech, health, e-commerce, industry)",
                "industry",
                "in",
                [
                    "software",
                    "saas",
                    "fintech",
                    "financial_services",
                    "healthcare",
                    "ecommerce",
                    "manufacturing",
                    "logistics",
                ],
            ),
            _criterion(
                20,
                "company_size",
                "Company has 50 to 5,000 employees",
                "employee_count",
                "range",
                minimum=50,
                maximum=5000,
            ),
            _criterion(
                15,
                "revenue",
                "Annual revenue is 5 million or more",
                "annual_revenue",
                "range",
                minimum=5_000_000,
            ),
            _criterion(
                10,
                "country_served",
                "Based in a country we serve (US, UK, Canada, EU core, Australia)",
                "country",
                "in",
                ["US", "GB", "CA", "DE", "FR", "NL", "AU", "IE", "SE"],
            ),
            _criterion(
                15,
                "seniority_decision_maker",
                "Decision maker (C-level, VP or director)",
                "seniority",
                "in",
                ["c_level", "vp", "director"],
            ),
            _criterion(
                7,
                "seniority_manager",
                "Manager (influences the decision)",
                "seniority",
                "in",
                ["manager"],
            ),
            _criterion(
                10,
                "title_decision_maker",
                "Job title says head, chief, VP, director or founder",
                "job_title",
                "contains_any",
                [
                    "head of",
                    "chief",
                    "vp",
                    "svp",
                    "evp",
                    "vice president",
                    "president",
                    "director",
                    "founder",
                    "ceo",
                    "cto",
                    "cfo",
                    "cmo",
                    "coo",
                    "cio",
                ],
            ),
            _criterion(
                10,
                "department_buyer",
                "Works in engineering, IT, operations, marketing or sales",
                "department",
                "in",
                ["engineering", "it", "operations", "marketing", "sales"],
            ),
        ],
        "knockouts": [
            _condition(
                "personal_email",
                "Personal email address (Gmail, Yahoo, Outlook...)",
                "email_domain",
                "in",
                _PERSONAL_EMAIL_DOMAINS,
            ),
            _condition(
                "competitor_email",
                "Works for a competitor (email domain)",
                "email_domain",
                "in",
                _COMPETITOR_DOMAINS,
            ),
            _condition(
                "competitor_company",
                "Works for a competitor (company domain)",
                "company_domain",
                "in",
                _COMPETITOR_DOMAINS,
            ),
            _condition("student", "Student", "seniority", "equals", ["student"]),
            _condition(
                "student_title",
                "Job title says student or intern",
                "job_title",
                "contains_any",
                ["student", "intern", "internship", "trainee"],
            ),
            _condition(
                "sanctioned_country",
                "Country we cannot sell to (sanctions)",
                "country",
                "in",
                ["KP", "IR", "SY", "CU"],
            ),
        ],
        "grade_thresholds": {"A": 75, "B": 50, "C": 25},
    },
    "rules": [
        _rule("page_view", "Viewed a page", ["page_view"], 1, cap=15, half_life_days=30),
        _rule(
            "pricing_page_url",
            "Viewed the pricing page",
            ["page_view"],
            5,
            filters=_url_contains("/pricing"),
            cap=20,
            half_life_days=14,
        ),
        _rule(
            "pricing_page_view",
            "Viewed the pricing page (tracked as its own event)",
            ["pricing_page_view"],
            5,
            cap=20,
            half_life_days=14,
        ),
        _rule(
            "returning_visitor",
            "Came back to the site on different days",
            ["page_view"],
            3,
            per="distinct_day",
            min_count=2,
            cap=12,
            half_life_days=30,
        ),
        _rule(
            "download_awareness",
            "Downloaded early-stage content (guides, reports)",
            ["content_download"],
            3,
            filters=_asset_stage("awareness"),
            cap=9,
            half_life_days=60,
        ),
        _rule(
            "download_consideration",
            "Downloaded comparison content (case studies, webinars on demand)",
            ["content_download"],
            6,
            filters=_asset_stage("consideration"),
            cap=18,
            half_life_days=45,
        ),
        _rule(
            "download_decision",
            "Downloaded buying content (ROI calculator, security docs)",
            ["content_download"],
            10,
            filters=_asset_stage("decision"),
            cap=20,
            half_life_days=30,
        ),
        _rule(
            "webinar_registration",
            "Registered for a webinar",
            ["webinar_registration"],
            5,
            cap=15,
            half_life_days=45,
        ),
        _rule(
            "webinar_attendance",
            "Attended a webinar",
            ["webinar_attendance"],
            10,
            cap=30,
            half_life_days=45,
        ),
        _rule(
            "email_click",
            "Clicked a link in an email",
            ["email_click"],
            2,
            cap=10,
            half_life_days=21,
        ),
        _rule("email_open", "Opened an email", ["email_open"], 0.5, cap=5),
        _rule(
            "form_submission",
            "Submitted a form",
            ["form_submission"],
            8,
            cap=24,
            half_life_days=30,
        ),
        _rule(
            "newsletter_signup",
            "Signed up for the newsletter",
            ["newsletter_signup"],
            3,
            per="once",
        ),
        _rule(
            "distinct_conversions",
            "Converted in more than one way (form, download, webinar, trial, demo, contact)",
            _CONVERSION_TYPES,
            5,
            per="distinct_type",
            min_count=2,
            cap=20,
        ),
        _rule(
            "trial_signup",
            "Started a trial",
            ["trial_signup"],
            25,
            per="once",
            half_life_days=60,
        ),
        _rule(
            "demo_request",
            "Asked for a demo",
            ["demo_request"],
            40,
            per="once",
            half_life_days=60,
        ),
        _rule(
            "contact_request",
            "Asked to be contacted",
            ["contact_request"],
            30,
            per="once",
            half_life_days=60,
        ),
        _rule("ad_click", "Clicked an ad", ["ad_click"], 1, cap=5, expiry_days=30),
        _rule(
            "careers_page_view",
            "Looked at job openings (likely a job seeker, not a buyer)",
            ["page_view"],
            -10,
            filters=_url_contains("/careers"),
            cap=20,
        ),
        _rule("unsubscribe", "Unsubscribed from emails", ["unsubscribe"], -20, per="once"),
        _rule("bounce", "Email address bounced", ["bounce"], -30, per="once"),
    ],
    "mql_engagement_threshold": 50,
    "mql_min_grade": "B",
    "total_cap": 100,
    "fast_lane_types": ["demo_request", "contact_request"],
    "fast_lane_min_grade": "C",
    "mql_min_probability": None,
}


def default_model() -> ScoringModel:
    """The shipped default, validated (a fresh object each call)."""
    return model_from_dict(DEFAULT_MODEL_DICT)
