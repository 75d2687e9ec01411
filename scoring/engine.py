"""The scoring arithmetic: ICP fit, engagement points, and the MQL rule.

Pure Python on purpose (no Django imports): plain data in, plain data out, so the rules a
marketer edits can be previewed, backtested and unit-tested in milliseconds. The Django layer
turns rows into ``LeadFacts`` / ``InteractionFact`` and results back into rows.

Scoring models are stored as JSON; ``model_from_dict`` is the only gate that validates them,
and ``model_to_dict`` writes every field explicitly so a stored model keeps its meaning even if
a default here changes later.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

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
        """The reasons behind the numbers, as JSON-ready plain data (stored with the score)."""
        return {
            "fit": {
                "score": self.fit.score,
                "grade": self.fit.grade,
                "criteria": [
                    {
                        "key": c.key,
                        "label": c.label,
                        "matched": c.matched,
                        "points": c.points,
                        "value": _jsonable(c.value),
                    }
                    for c in self.fit.contributions
                ],
                "knocked_out_by": list(self.fit.knocked_out_by),
            },
            "engagement": {
                "score": self.engagement.score,
                "rules": [
                    {
                        "key": c.key,
                        "label": c.label,
                        "units": c.units,
                        "raw_points": c.raw_points,
                        "decayed_points": c.decayed_points,
                        "points": c.points,
                        "capped": c.capped,
                        "event_ids": list(c.event_ids),
                    }
                    for c in self.engagement.contributions
                ],
                "total_capped": self.engagement.total_capped,
            },
            "score": self.score,
            "mql": self.mql,
            "mql_reason": self.mql_reason,
            "computed_at": self.computed_at.isoformat(),
        }


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


def _words(text: str) -> list[str]:
    return "".join(ch if ch.isalnum() else " " for ch in text.casefold()).split()


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


def grade_at_least(grade: str, minimum: str) -> bool:
    """True when ``grade`` is as good as ``minimum`` (A > B > C > D). F never qualifies."""
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
    return round(value, 2) + 0.0


# --------------------------------------------------------------------------------------------
# Fit
# --------------------------------------------------------------------------------------------


def compute_fit(icp: ICP, lead: LeadFacts) -> FitResult:
    """Fit = matched weights (floored at 0) as a share of all positive weights, 0..100.

    A matched knock-out makes the grade F whatever else matches; the score is kept so the
    marketer can still see how close the lead was.
    """
    contributions: list[FitContribution] = []
    matched_weight = 0.0
    for criterion in icp.criteria:
        value = _lead_value(lead, criterion.field)
        matched = _matches(criterion.op, value, criterion.values, criterion.min, criterion.max)
        points = criterion.weight if matched else 0
        matched_weight += points
        contributions.append(FitContribution(criterion.key, criterion.label, matched, points, value))

    possible = sum(c.weight for c in icp.criteria if c.weight > 0)
    if possible <= 0:
        score = 0
    else:
        score = min(100, max(0, round(100 * max(0.0, matched_weight) / possible)))

    knocked_out_by = tuple(
        ko.label
        for ko in icp.knockouts
        if _matches(ko.op, _lead_value(lead, ko.field), ko.values, ko.min, ko.max)
    )
    grade = "F" if knocked_out_by else _grade_for(score, icp.grade_thresholds)
    return FitResult(score, grade, tuple(contributions), knocked_out_by)


# --------------------------------------------------------------------------------------------
# Engagement
# --------------------------------------------------------------------------------------------


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name}: must be timezone-aware")


def _age_days(moment: datetime, now: datetime) -> float:
    # Events "in the future" (clock skew, backfills) are as fresh as possible, never bonus points.
    return max(0.0, (now - moment).total_seconds() / _SECONDS_PER_DAY)


def _units(per: str, events: Sequence[InteractionFact]) -> list[list[InteractionFact]]:
    if per == "event":
        return [[event] for event in events]
    if per == "once":
        return [list(events)] if events else []
    groups: dict[date | str, list[InteractionFact]] = {}
    for event in events:
        if per == "distinct_day":
            group_key: date | str = event.occurred_at.astimezone(UTC).date()
        elif per == "distinct_type":
            group_key = event.type
        else:
            raise ValueError(f"unknown per {per!r}; must be one of {', '.join(PER_KINDS)}")
        groups.setdefault(group_key, []).append(event)
    return list(groups.values())


def _apply_rule(
    rule: EngagementRule, events: Sequence[InteractionFact], now: datetime
) -> EngagementContribution | None:
    matching = [
        event
        for event in events
        if event.type in rule.types
        and all(_filter_holds(flt, event.properties or {}) for flt in rule.filters)
    ]
    # A unit lives while its newest event does, so dropping expired events first is the same
    # as expiring whole units.
    if rule.expiry_days is not None:
        matching = [e for e in matching if _age_days(e.occurred_at, now) <= rule.expiry_days]
    if not matching:
        return None

    units = _units(rule.per, matching)
    # "once" has one unit at most, so its min_count counts events ("3+ clicks: 5 points once").
    count_for_gate = len(matching) if rule.per == "once" else len(units)
    if count_for_gate < rule.min_count:
        return None

    raw = rule.points * len(units)
    decayed = 0.0
    for unit in units:
        age = _age_days(max(e.occurred_at for e in unit), now)
        factor = 1.0 if rule.half_life_days is None else 0.5 ** (age / rule.half_life_days)
        decayed += rule.points * factor

    capped = rule.cap is not None and abs(decayed) > rule.cap
    counted = math.copysign(rule.cap, decayed) if capped and rule.cap is not None else decayed
    ordered = sorted(matching, key=lambda e: (e.occurred_at, e.id))
    return EngagementContribution(
        key=rule.key,
        label=rule.label,
        units=len(units),
        raw_points=_points(raw),
        decayed_points=_points(decayed),
        points=_points(counted),
        capped=capped,
        event_ids=tuple(e.id for e in ordered),
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
    _require_aware(now, "now")
    if total_cap is not None and total_cap < 0:
        raise ValueError("total_cap: must be zero or more")
    events = tuple(interactions)
    for event in events:
        _require_aware(event.occurred_at, f"interaction {event.id}.occurred_at")

    contributions = tuple(
        contribution for rule in rules if (contribution := _apply_rule(rule, events, now)) is not None
    )
    rounded = round(sum(c.points for c in contributions))
    total_capped = total_cap is not None and rounded > total_cap
    if total_capped and total_cap is not None:
        score = math.floor(total_cap)
    else:
        score = max(0, rounded)  # negative engagement reads as "none", never below zero
    return EngagementResult(int(score), contributions, total_capped)


# --------------------------------------------------------------------------------------------
# The lead score and the MQL rule
# --------------------------------------------------------------------------------------------


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
    fit = compute_fit(model.icp, lead)
    engagement = compute_engagement(model.rules, events, now, model.total_cap)
    combined = round((fit.score + engagement.score) / 2)

    by_threshold = engagement.score >= model.mql_engagement_threshold and grade_at_least(
        fit.grade, model.mql_min_grade
    )
    by_fast_lane = any(e.type in model.fast_lane_types for e in events) and grade_at_least(
        fit.grade, model.fast_lane_min_grade
    )
    reason = "threshold" if by_threshold else "fast_lane" if by_fast_lane else ""
    return ScoreResult(fit, engagement, combined, bool(reason), reason, now)


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
    }


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
}


def default_model() -> ScoringModel:
    """The shipped default, validated (a fresh object each call)."""
    return model_from_dict(DEFAULT_MODEL_DICT)
