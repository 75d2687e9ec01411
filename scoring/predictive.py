"""Predictive scoring: features, a calibrated logistic regression, its metrics and its words.

Pure on purpose (numpy and scikit-learn, no Django): a lead is a plain dict, so the same code
trains on database rows (scoring/predictive_services.py), on a CSV (the evaluate_scoring
command) and on synthetic data (tests, bench/predictive.py). The record shape:

    {
        "email": "ada@acme.io",                      # only read to tell personal from corporate
        "industry": "software", "country": "US", "seniority": "vp", "department": "it",
        "source": "webinar", "utm_medium": "email",
        "employee_count": 250, "annual_revenue": 20_000_000,
        "company_size_band": "200-999",               # optional: derived from employee_count
        "email_domain_type": "corporate",             # optional: derived from email
        "attributes": {"plan": "pro", "uses_sap": True, "tools": ["sap", "excel"], "seats": 12},
        "activity": {                                 # see aggregate_events()
            "counts": {"webinar_attendance": 2, "page_view": 14},
            "distinct_conversion_types": 2, "visit_days": 5, "days_since_last_activity": 3.5,
            "page_views": 14, "pricing_page_views": 1,
            "time_on_site_seconds": 840.0, "avg_visit_seconds": 60.0,
        },
    }

Why logistic regression: on the closed-loop data we have (and on the leadforge sample) it ranks
as well as gradient boosting, and it explains itself exactly. A lead's contribution from a
feature is ``coef × standardised value``; since the scaler centres on the training mean, that is
the push (in log-odds) of the lead's value *compared with the average lead*. Contributions of the
columns of one field (all one-hot columns of "industry", a count and its "any" flag) are summed,
so a factor is one sentence about the lead's own value: "Works in fintech (industry)".
Probabilities come from a sigmoid calibration fitted on cross-validated scores (calibration is
monotonic, so the ranking and the factors are the logistic regression's).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from . import engine

# Below these the held-out metrics are noise and the model would learn the sample, not the market.
MIN_POSITIVES = 50
MIN_NEGATIVES = 50
MIN_TOTAL = 200

CATEGORICAL_FIELDS: tuple[str, ...] = (
    "industry",
    "country",
    "seniority",
    "department",
    "source",
    "utm_medium",
    "company_size_band",
    "email_domain_type",
)
NUMERIC_FIELDS: tuple[str, ...] = ("employee_count", "annual_revenue")
CONVERSION_TYPES: frozenset[str] = frozenset(
    {
        "form_submission",
        "content_download",
        "webinar_registration",
        "webinar_attendance",
        "trial_signup",
        "demo_request",
        "contact_request",
        "newsletter_signup",
    }
)
VISIT_TYPES: frozenset[str] = frozenset({"page_view", "pricing_page_view"})
# Activity aggregates other than per-type counts; "log" ones are heavy-tailed. ("page_views" is
# aggregated for display but is no feature: it is the sum of two counts, and the duplicate
# would split one effect into two opposite-signed coefficients.)
ACTIVITY_NUMBERS: tuple[tuple[str, bool], ...] = (
    ("distinct_conversion_types", False),
    ("visit_days", True),
    ("days_since_last_activity", True),
    ("pricing_page_views", True),
    ("time_on_site_seconds", True),
    ("avg_visit_seconds", True),
)
MISSING = "(missing)"
OTHER = "(other)"
TOP_FACTORS = 3
# A push smaller than this (in log-odds) is not worth a sentence.
MIN_FACTOR_WEIGHT = 0.02

_PERSONAL_DOMAINS = frozenset(
    value
    for knockout in engine.DEFAULT_MODEL_DICT["icp"]["knockouts"]
    if knockout["key"] == "personal_email"
    for value in knockout["values"]
)


class NotEnoughOutcomes(ValueError):
    """Too few labelled leads to train or to judge a model; the message says how many more."""

    def __init__(self, positives: int, negatives: int):
        self.positives, self.negatives = positives, negatives
        self.more_positives = max(0, MIN_POSITIVES - positives)
        self.more_negatives = max(0, MIN_NEGATIVES - negatives)
        self.more_total = max(
            0, MIN_TOTAL - positives - negatives - self.more_positives - self.more_negatives
        )
        needs = []
        if self.more_positives:
            needs.append(f"{self.more_positives} more converted leads")
        if self.more_negatives:
            needs.append(f"{self.more_negatives} more lost, rejected or disqualified leads")
        if self.more_total:
            needs.append(f"{self.more_total} more labelled leads of either kind")
        super().__init__(
            f"Not enough closed-loop outcomes to train: {positives} converted and {negatives} not"
            f" converted ({positives + negatives} labelled leads). Training needs at least"
            f" {MIN_POSITIVES} of each and {MIN_TOTAL} in total, so it needs {' and '.join(needs)}."
        )


def check_enough_outcomes(positives: int, negatives: int) -> None:
    if positives < MIN_POSITIVES or negatives < MIN_NEGATIVES or positives + negatives < MIN_TOTAL:
        raise NotEnoughOutcomes(positives, negatives)


# --------------------------------------------------------------------------------------------
# Record helpers
# --------------------------------------------------------------------------------------------


def email_domain_type(email: str | None) -> str:
    _, at, domain = (email or "").strip().rpartition("@")
    if not at:
        return ""
    return "personal" if domain.lower() in _PERSONAL_DOMAINS else "corporate"


def company_size_band(employee_count: Any) -> str:
    n = _number(employee_count)
    if n is None:
        return ""
    for limit, band in ((50, "1-49"), (200, "50-199"), (1000, "200-999"), (5000, "1,000-4,999")):
        if n < limit:
            return band
    return "5,000+"


def aggregate_events(events: Iterable[tuple[str, datetime, Mapping[str, Any]]], now: datetime) -> dict:
    """The activity aggregates of one lead from (type, occurred_at, properties), events after
    `now` ignored. predictive_services computes the same numbers in SQL; keep the two in step."""
    counts: Counter[str] = Counter()
    days, last, durations, pricing = set(), None, [], 0
    for type_, occurred_at, properties in events:
        if occurred_at > now:
            continue
        counts[type_] += 1
        last = occurred_at if last is None or occurred_at > last else last
        properties = properties or {}
        if type_ in VISIT_TYPES:
            days.add(occurred_at.astimezone(UTC).date())
        if type_ == "pricing_page_view" or (
            type_ == "page_view" and "/pricing" in str(properties.get("url") or "").lower()
        ):
            pricing += 1
        duration = properties.get("duration_seconds")
        if isinstance(duration, int | float) and not isinstance(duration, bool):
            durations.append(float(duration))
    return {
        "counts": dict(counts),
        "distinct_conversion_types": len(CONVERSION_TYPES & set(counts)),
        "visit_days": len(days),
        "days_since_last_activity": None if last is None else (now - last).total_seconds() / 86_400,
        "page_views": counts["page_view"] + counts["pricing_page_view"],
        "pricing_page_views": pricing,
        "time_on_site_seconds": sum(durations) if durations else None,
        "avg_visit_seconds": sum(durations) / len(durations) if durations else None,
    }


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return None if math.isnan(value) else float(value)
    try:
        number = float(str(value).replace(",", ""))
    except ValueError:
        return None
    return None if math.isnan(number) else number


def _category(record: Mapping[str, Any], name: str) -> str:
    value = record.get(name)
    if name == "company_size_band" and not value:
        value = company_size_band(record.get("employee_count"))
    elif name == "email_domain_type" and not value:
        value = email_domain_type(record.get("email"))
    text = str(value).strip().lower() if value is not None else ""
    return text if text and text != "unknown" else MISSING


def _signed_log(value: float) -> float:
    return math.copysign(math.log1p(abs(value)), value)


# --------------------------------------------------------------------------------------------
# Features
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Group:
    """One field of a lead as the marketer sees it; its columns' contributions are summed."""

    key: str  # "industry", "count:webinar_attendance", "activity:visit_days", "attr:plan"
    kind: str  # category | number | count | activity | attr_string | attr_number | attr_bool | attr_list
    name: str  # the field, type, aggregate or attribute key


@dataclass
class _Plan:
    groups: list[Group] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    column_group: list[int] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)

    def group(self, key: str, kind: str, name: str) -> int:
        self.groups.append(Group(key, kind, name))
        return len(self.groups) - 1

    def column(self, name: str, group: int) -> int:
        self.index[name] = len(self.columns)
        self.columns.append(name)
        self.column_group.append(group)
        return self.index[name]


class LeadFeaturizer:
    """Plain lead dicts → a dense float matrix with named columns (fit learns the vocabulary).

    One-hot categories seen at least `min_frequency` times (rarer ones share an "(other)" column;
    values never seen are all-zero, like OneHotEncoder(handle_unknown="ignore")); log-scaled
    numbers with the training median for missing values plus a "missing" flag; per interaction
    type a log count and "once or more" / "twice or more" flags (the first and the second
    webinar say more than the tenth); custom attributes by the type of their values, at most
    `max_attribute_keys` keys and `max_values` values per key, skipping identifier-like keys.
    """

    def __init__(self, *, min_frequency: int = 5, max_attribute_keys: int = 30, max_values: int = 20):
        self.min_frequency = min_frequency
        self.max_attribute_keys = max_attribute_keys
        self.max_values = max_values

    # -- fit --------------------------------------------------------------------------------

    def fit(self, records: Sequence[Mapping[str, Any]]) -> LeadFeaturizer:
        plan, self.medians_ = _Plan(), {}
        self.categories_: dict[str, set[str]] = {}
        n, mf = len(records), self.min_frequency
        for name in CATEGORICAL_FIELDS:
            counts = Counter(_category(r, name) for r in records)
            kept = sorted(v for v, c in counts.items() if c >= mf)
            if len(kept) <= 1 and sum(counts.values()) - (counts[kept[0]] if kept else 0) < mf:
                continue  # one value for (nearly) everyone: nothing to learn
            g = plan.group(name, "category", name)
            self.categories_[name] = set(kept)
            for value in kept:
                plan.column(f"{name}={value}", g)
            if any(c < mf for c in counts.values()):
                plan.column(f"{name}={OTHER}", g)
        for name in NUMERIC_FIELDS:
            self._numeric(plan, records, name, "number", name, lambda r, k=name: r.get(k), log=True)
        type_counts = Counter(t for r in records for t, c in _activity(r).get("counts", {}).items() if c)
        for type_ in sorted(t for t, c in type_counts.items() if c >= mf):
            g = plan.group(f"count:{type_}", "count", type_)
            plan.column(f"count:{type_}", g)
            plan.column(f"any:{type_}", g)
            plan.column(f"repeat:{type_}", g)
        for name, _log in ACTIVITY_NUMBERS:
            self._numeric(
                plan,
                records,
                f"activity:{name}",
                "activity",
                name,
                lambda r, k=name: _activity(r).get(k),
                log=_log,
            )
        self.attributes_ = self._fit_attributes(plan, records, n)
        self.plan_ = plan
        self.feature_names_ = list(plan.columns)
        return self

    def _numeric(self, plan, records, key, kind, name, getter, *, log: bool) -> None:
        values = [_number(getter(r)) for r in records]
        present = [v for v in values if v is not None]
        if len(present) < self.min_frequency or len(set(present)) < 2 and len(present) == len(values):
            return
        g = plan.group(key, kind, name)
        transformed = [_signed_log(v) if log else v for v in present]
        self.medians_[key] = float(np.median(transformed)) if transformed else 0.0
        plan.column(key, g)
        if len(present) < len(values):
            plan.column(f"{key}:missing", g)

    def _fit_attributes(self, plan: _Plan, records, n: int) -> dict[str, dict]:
        presence: Counter[str] = Counter()
        kinds: dict[str, Counter[str]] = {}
        for r in records:
            for key, value in (r.get("attributes") or {}).items():
                if value is None or value == "" or value == []:
                    continue
                presence[key] += 1
                kinds.setdefault(key, Counter())[_attribute_kind(value)] += 1
        chosen: dict[str, dict] = {}
        for key, seen in presence.most_common():
            if seen < self.min_frequency or len(chosen) >= self.max_attribute_keys:
                break
            kind = _dominant_kind(kinds[key])
            spec: dict[str, Any] = {"kind": kind}
            if kind in ("string", "list"):
                values: Counter[str] = Counter()
                for r in records:
                    raw = (r.get("attributes") or {}).get(key)
                    values.update(_attribute_items(raw, kind))
                # Nearly one value per lead (an id, an e-mail, a free-text note) teaches nothing.
                if kind == "string" and len(values) > max(self.max_values, seen // 2):
                    continue
                kept = [v for v, c in values.most_common(self.max_values) if c >= self.min_frequency]
                if not kept:
                    continue
                spec["values"] = set(kept)
                g = plan.group(f"attr:{key}", f"attr_{kind}", key)
                for value in sorted(kept):
                    plan.column(f"attr:{key}={value}", g)
                if kind == "string":
                    plan.column(f"attr:{key}={OTHER}", g)
            elif kind == "number":
                present = [
                    _signed_log(v)
                    for r in records
                    if (v := _number((r.get("attributes") or {}).get(key))) is not None
                ]
                if len(set(present)) < 2:
                    continue
                spec["median"] = float(np.median(present))
                g = plan.group(f"attr:{key}", "attr_number", key)
                plan.column(f"attr:{key}", g)
                plan.column(f"attr:{key}:missing", g)
            else:  # bool
                g = plan.group(f"attr:{key}", "attr_bool", key)
                plan.column(f"attr:{key}=true", g)
                plan.column(f"attr:{key}:missing", g)
            chosen[key] = spec
        return chosen

    # -- transform ----------------------------------------------------------------------------

    def transform(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        index, columns = self.plan_.index, len(self.plan_.columns)
        out = np.zeros((len(records), columns), dtype=np.float64)
        numeric_specs = [
            (g.key, getter, log)
            for g in self.plan_.groups
            if g.kind in ("number", "activity")
            for getter, log in [_numeric_getter(g)]
        ]
        count_types = [g.name for g in self.plan_.groups if g.kind == "count"]
        for i, r in enumerate(records):
            row = out[i]
            for name, kept in self.categories_.items():
                value = _category(r, name)
                col = index.get(f"{name}={value}" if value in kept else f"{name}={OTHER}")
                if col is not None:
                    row[col] = 1.0
            for key, getter, log in numeric_specs:
                value = _number(getter(r))
                if value is None:
                    row[index[key]] = self.medians_[key]
                    missing = index.get(f"{key}:missing")
                    if missing is not None:
                        row[missing] = 1.0
                else:
                    row[index[key]] = _signed_log(value) if log else value
            counts = _activity(r).get("counts") or {}
            for type_ in count_types:
                c = _number(counts.get(type_)) or 0.0
                if c > 0:
                    row[index[f"count:{type_}"]] = math.log1p(c)
                    row[index[f"any:{type_}"]] = 1.0
                    if c >= 2:
                        row[index[f"repeat:{type_}"]] = 1.0
            attributes = r.get("attributes") or {}
            for key, spec in self.attributes_.items():
                raw = attributes.get(key)
                kind = spec["kind"]
                if kind in ("string", "list"):
                    for item in _attribute_items(raw, kind):
                        col = index.get(f"attr:{key}={item}")
                        if col is not None:
                            row[col] = 1.0
                        elif kind == "string":
                            row[index[f"attr:{key}={OTHER}"]] = 1.0
                elif kind == "number":
                    value = _number(raw)
                    if value is None:
                        row[index[f"attr:{key}"]] = spec["median"]
                        row[index[f"attr:{key}:missing"]] = 1.0
                    else:
                        row[index[f"attr:{key}"]] = _signed_log(value)
                else:
                    truth = _truth(raw)
                    if truth is None:
                        row[index[f"attr:{key}:missing"]] = 1.0
                    elif truth:
                        row[index[f"attr:{key}=true"]] = 1.0
        return out

    def group_matrix(self) -> np.ndarray:
        """columns × groups indicator, to sum column contributions into a field's."""
        m = np.zeros((len(self.plan_.columns), len(self.plan_.groups)))
        m[np.arange(len(self.plan_.columns)), self.plan_.column_group] = 1.0
        return m


def _activity(record: Mapping[str, Any]) -> Mapping[str, Any]:
    return record.get("activity") or {}


def _numeric_getter(group: Group):
    if group.kind == "number":
        return (lambda r, k=group.name: r.get(k)), True
    log = dict(ACTIVITY_NUMBERS)[group.name]
    return (lambda r, k=group.name: _activity(r).get(k)), log


def _attribute_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, dict):
        return "other"
    return "string"


def _dominant_kind(kinds: Counter[str]) -> str:
    if set(kinds) <= {"bool"}:
        return "bool"
    if set(kinds) <= {"number"}:
        return "number"
    if kinds.get("list"):
        return "list"
    return "string"


def _attribute_items(raw: Any, kind: str) -> list[str]:
    if raw is None or raw == "":
        return []
    if kind == "list":
        items = raw if isinstance(raw, list | tuple) else [raw]
        return sorted({str(i).strip().lower() for i in items if i is not None and str(i).strip()})
    if isinstance(raw, dict | list | tuple):
        return []
    return [str(raw).strip().lower()]


def _truth(raw: Any) -> bool | None:
    if isinstance(raw, bool):
        return raw
    if raw is None or raw == "":
        return None
    text = str(raw).strip().lower()
    if text in ("true", "yes", "1", "y", "t"):
        return True
    if text in ("false", "no", "0", "n", "f"):
        return False
    return None


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


class ConversionModel:
    """A fitted featurizer + calibrated logistic regression. Pickled into PredictiveModel rows:
    renaming this class or its module breaks stored models (they then fail to load, and the
    services say so)."""

    def __init__(self, featurizer: LeadFeaturizer, calibrated: CalibratedClassifierCV, x_train: np.ndarray):
        self.featurizer = featurizer
        self.calibrated = calibrated
        # ensemble=False: one pipeline fitted on all the training rows, calibrated on CV scores.
        base: Pipeline = calibrated.calibrated_classifiers_[0].estimator
        self.scaler: StandardScaler = base.named_steps["scale"]
        self.coef = base.named_steps["clf"].coef_[0].copy()
        self.group_matrix = featurizer.group_matrix()
        self.group_spread = ((self.scaler.transform(x_train) * self.coef) @ self.group_matrix).std(axis=0)
        self.sklearn_version = _sklearn_version()

    @property
    def feature_names(self) -> list[str]:
        return self.featurizer.feature_names_

    def predict_proba(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        if not records:
            return np.zeros(0)
        return self.calibrated.predict_proba(self.featurizer.transform(records))[:, 1]

    def predict_and_explain(
        self, records: Sequence[Mapping[str, Any]], *, top: int = TOP_FACTORS
    ) -> tuple[np.ndarray, list[dict]]:
        """Probabilities and, per lead, {"plus": [...], "minus": [...]} factors in words."""
        if not records:
            return np.zeros(0), []
        x = self.featurizer.transform(records)
        probabilities = self.calibrated.predict_proba(x)[:, 1]
        by_group = (self.scaler.transform(x) * self.coef) @ self.group_matrix
        groups = self.featurizer.plan_.groups
        explained = []
        order = np.argsort(by_group, axis=1)
        for i, record in enumerate(records):
            row, ranked = by_group[i], order[i]
            plus = [
                _factor(groups[g], record, row[g]) for g in ranked[::-1][:top] if row[g] > MIN_FACTOR_WEIGHT
            ]
            minus = [_factor(groups[g], record, row[g]) for g in ranked[:top] if row[g] < -MIN_FACTOR_WEIGHT]
            explained.append({"plus": plus, "minus": minus})
        return probabilities, explained

    def drivers(self, top: int = 8) -> dict[str, list[dict]]:
        """What moves the probability most overall, in words, ranked by the spread (standard
        deviation, in log-odds) of the effect over the training leads.

        A value of a category is its own driver ("Works in fintech (industry)"); an interaction
        type is one driver however many columns it has ("More webinar attendances"), signed by
        going from none to two; a number is signed by its coefficient. Imputation flags and the
        "(other)" bucket are left out: they are bookkeeping, not something to act on.
        """
        names, plan = self.feature_names, self.featurizer.plan_
        found: list[tuple[float, str, str]] = []
        for g, group in enumerate(plan.groups):
            columns = [j for j, owner in enumerate(plan.column_group) if owner == g]
            if group.kind == "count":
                # from none to two of them: log count, "any" and "repeat" all move
                steps = np.array([math.log1p(2), 1.0, 1.0])
                effect = float((steps / self.scaler.scale_[columns]) @ self.coef[columns])
                weight = math.copysign(self.group_spread[g], effect)
                found.append((weight, f"More {_type_nouns(group.name)[1]}", group.key))
                continue
            for j in columns:
                if names[j].endswith((":missing", f"={OTHER}")):
                    continue
                found.append((float(self.coef[j]), column_label(names[j]), names[j]))
        found.sort(key=lambda item: item[0])

        def row(item):
            return {"feature": item[2], "label": item[1], "weight": round(item[0], 3)}

        return {
            "plus": [row(i) for i in found[::-1][:top] if i[0] > 0],
            "minus": [row(i) for i in found[:top] if i[0] < 0],
        }


def _sklearn_version() -> str:
    import sklearn

    return sklearn.__version__


def fit_model(records: Sequence[Mapping[str, Any]], y: Sequence[int], *, seed: int = 7, C: float = 0.5):
    featurizer = LeadFeaturizer(min_frequency=max(5, min(50, len(records) // 500))).fit(records)
    x = featurizer.transform(records)
    pipeline = Pipeline(
        [("scale", StandardScaler()), ("clf", LogisticRegression(C=C, max_iter=500, random_state=seed))]
    )
    calibrated = CalibratedClassifierCV(pipeline, method="sigmoid", cv=3, ensemble=False)
    calibrated.fit(x, np.asarray(y, dtype=int))
    return ConversionModel(featurizer, calibrated, x)


# --------------------------------------------------------------------------------------------
# Metrics and training
# --------------------------------------------------------------------------------------------


def auc_or_none(y: Sequence[int], scores: Sequence[float]) -> float | None:
    y = np.asarray(y, dtype=int)
    if len(set(y.tolist())) < 2:
        return None
    return round(float(roc_auc_score(y, np.asarray(scores, dtype=float))), 4)


def lift_at(y: Sequence[int], scores: Sequence[float], fraction: float = 0.1) -> float | None:
    """Conversion rate of the top `fraction` by score over the base rate (ties broken by order)."""
    y, scores = np.asarray(y, dtype=float), np.asarray(scores, dtype=float)
    if not len(y) or not y.mean():
        return None
    k = max(1, math.ceil(len(y) * fraction))
    top = np.argsort(-scores, kind="stable")[:k]
    return round(float(y[top].mean() / y.mean()), 3)


def evaluate(y: Sequence[int], probabilities: Sequence[float]) -> dict[str, Any]:
    """AUC, lift in the top decile, Brier score and a reliability table by probability decile."""
    y, p = np.asarray(y, dtype=int), np.asarray(probabilities, dtype=float)
    table = []
    bins = np.minimum((p * 10).astype(int), 9)
    for b in range(10):
        mask = bins == b
        if mask.any():
            table.append(
                {
                    "bin": f"{b * 10}-{b * 10 + 10}%",
                    "leads": int(mask.sum()),
                    "predicted": round(float(p[mask].mean()), 3),
                    "observed": round(float(y[mask].mean()), 3),
                }
            )
    return {
        "auc": auc_or_none(y, p),
        "lift_top_decile": lift_at(y, p),
        "brier": round(float(brier_score_loss(y, p)), 4) if len(y) else None,
        "base_rate": round(float(y.mean()), 4) if len(y) else None,
        "test_positives": int(y.sum()),
        "test_negatives": int(len(y) - y.sum()),
        "calibration": table,
    }


@dataclass
class TrainResult:
    model: ConversionModel
    metrics: dict[str, Any]
    trained_on: int


def train(
    records: Sequence[Mapping[str, Any]],
    labels: Sequence[bool | int],
    *,
    test_size: float = 0.25,
    seed: int = 7,
) -> TrainResult:
    """Fit on a stratified split and measure on the held-out rest. The stored model is the one
    measured (not a refit on everything), so its metrics describe it exactly.

    Raises NotEnoughOutcomes before any work when the labels are too few.
    """
    y = np.asarray([int(bool(v)) for v in labels], dtype=int)
    positives = int(y.sum())
    check_enough_outcomes(positives, len(y) - positives)
    idx = np.arange(len(y))
    train_idx, test_idx = train_test_split(idx, test_size=test_size, stratify=y, random_state=seed)
    train_records = [records[i] for i in train_idx]
    model = fit_model(train_records, y[train_idx], seed=seed)
    metrics = evaluate(y[test_idx], model.predict_proba([records[i] for i in test_idx]))
    metrics.update(
        {
            "positives": positives,
            "negatives": int(len(y) - positives),
            "train_leads": len(train_idx),
            "test_leads": len(test_idx),
            "features": len(model.feature_names),
            "drivers": model.drivers(),
            "sklearn": model.sklearn_version,
        }
    )
    return TrainResult(model=model, metrics=metrics, trained_on=len(train_idx))


# --------------------------------------------------------------------------------------------
# Words
# --------------------------------------------------------------------------------------------

_TYPE_WORDS: dict[str, tuple[str, str]] = {
    "page_view": ("page view", "page views"),
    "pricing_page_view": ("pricing page view", "pricing page views"),
    "content_download": ("content download", "content downloads"),
    "webinar_registration": ("webinar registration", "webinar registrations"),
    "webinar_attendance": ("webinar attendance", "webinar attendances"),
    "email_open": ("e-mail opened", "e-mails opened"),
    "email_click": ("e-mail link clicked", "e-mail links clicked"),
    "form_submission": ("form submitted", "forms submitted"),
    "newsletter_signup": ("newsletter sign-up", "newsletter sign-ups"),
    "demo_request": ("demo request", "demo requests"),
    "contact_request": ("contact request", "contact requests"),
    "trial_signup": ("trial sign-up", "trial sign-ups"),
    "ad_click": ("ad click", "ad clicks"),
    "cart_add": ("item added to the cart", "items added to the cart"),
    "social_engagement": ("social media engagement", "social media engagements"),
    "unsubscribe": ("unsubscribe", "unsubscribes"),
    "bounce": ("bounced e-mail", "bounced e-mails"),
}
_SENIORITY_WORDS = {
    "c_level": "C-level",
    "vp": "VP",
    "director": "director",
    "manager": "manager",
    "individual": "individual contributor",
    "student": "student",
}
_FIELD_WORDS = {
    "industry": ("Works in {} (industry)", "Industry not known"),
    "country": ("Based in {} (country)", "Country not known"),
    "seniority": ("Seniority: {}", "Seniority not known"),
    "department": ("Works in {} (department)", "Department not known"),
    "source": ("Came from {} (source)", "Source not known"),
    "utm_medium": ("Campaign medium: {}", "No campaign medium"),
    "company_size_band": ("Company of {} employees", "Company size not known"),
}


def _human(text: Any) -> str:
    return re.sub(r"[_\s]+", " ", str(text)).strip()


def _key_words(key: str) -> str:
    words = _human(key)
    return words[:1].upper() + words[1:]


def _type_nouns(type_: str) -> tuple[str, str]:
    # Types from an imported dataset ("touch_call") have no nouns of their own.
    return _TYPE_WORDS.get(type_) or (f"{_human(type_)} event", f"{_human(type_)} events")


def _type_words(type_: str, n: float) -> str:
    one, many = _type_nouns(type_)
    n = int(round(n))
    if n == 0:
        return f"No {many}"
    return f"1 {one}" if n == 1 else f"{n:,} {many}"


def _money(value: float) -> str:
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"${value / limit:.3g}{suffix}"
    return f"${value:,.0f}"


def _duration(seconds: float) -> str:
    minutes = seconds / 60
    if minutes < 1:
        return f"{int(round(seconds))} seconds"
    if minutes < 90:
        return f"{int(round(minutes))} minutes"
    return f"{minutes / 60:.1f} hours"


def _plural(n: int, one: str, many: str) -> str:
    return one if n == 1 else many


def describe(group: Group, record: Mapping[str, Any]) -> str:
    """The lead's own value of one field, in a marketer's words."""
    kind, name = group.kind, group.name
    if kind == "category":
        value = _category(record, name)
        if name == "email_domain_type":
            return {
                "personal": "Personal e-mail address",
                "corporate": "Company e-mail address",
                MISSING: "E-mail address type not known",
            }.get(value, f"E-mail address: {value}")
        known, unknown = _FIELD_WORDS.get(name, (_key_words(name) + ": {}", _key_words(name) + " not known"))
        if value == MISSING:
            return unknown
        shown = _SENIORITY_WORDS.get(value, value) if name == "seniority" else _human(value)
        if name == "country":
            shown = shown.upper()
        return known.format(shown)
    if kind == "number":
        value = _number(record.get(name))
        if name == "employee_count":
            return "Company size not known" if value is None else f"{int(value):,} employees"
        return "Revenue not known" if value is None else f"Annual revenue {_money(value)}"
    activity = _activity(record)
    if kind == "count":
        return _type_words(name, _number((activity.get("counts") or {}).get(name)) or 0)
    if kind == "activity":
        value = _number(activity.get(name))
        n = int(round(value or 0))
        if name == "distinct_conversion_types":
            if not n:
                return "No conversions yet"
            return "Converted in 1 way" if n == 1 else f"Converted in {n} different ways"
        if name == "visit_days":
            return (
                "Never visited the site" if not n else f"Visited on {n} different {_plural(n, 'day', 'days')}"
            )
        if name == "days_since_last_activity":
            if value is None:
                return "No activity yet"
            return "Active today" if value < 1 else f"Last active {n} {_plural(n, 'day', 'days')} ago"
        if name == "page_views":
            return f"{n:,} {_plural(n, 'page view', 'page views')}" if n else "No page views"
        if name == "pricing_page_views":
            if not n:
                return "Never viewed the pricing page"
            return "Viewed the pricing page once" if n == 1 else f"Viewed the pricing page {n} times"
        if name == "time_on_site_seconds":
            return "No time on site recorded" if value is None else f"{_duration(value)} on the site"
        if name == "avg_visit_seconds":
            return (
                "No visit length recorded" if value is None else f"Visits last {_duration(value)} on average"
            )
    raw = (record.get("attributes") or {}).get(name)
    label = _key_words(name)
    if kind == "attr_list":
        items = _attribute_items(raw, "list")
        return f"{label}: {', '.join(items[:3])}" if items else f"{label}: none"
    if kind == "attr_bool":
        truth = _truth(raw)
        return f"{label} not given" if truth is None else f"{label}: {'yes' if truth else 'no'}"
    if kind == "attr_number":
        value = _number(raw)
        return f"{label} not given" if value is None else f"{label}: {value:,.10g}"
    items = _attribute_items(raw, "string")
    return f"{label}: {_human(items[0])}" if items else f"{label} not given"


def _factor(group: Group, record: Mapping[str, Any], weight: float) -> dict:
    return {"feature": group.key, "label": describe(group, record), "weight": round(float(weight), 3)}


def column_label(column: str) -> str:
    """One column of the model in words, for the overall drivers ("Works in fintech (industry)")."""
    if column == "activity:days_since_last_activity:missing":
        return "No activity yet"
    if column.endswith(":missing"):
        return f"{_key_words(column[: -len(':missing')].split(':', 1)[-1])} not known"
    if column.startswith(("count:", "any:", "repeat:")):
        prefix, type_ = column.split(":", 1)
        one, many = _type_nouns(type_)
        return {"count": f"More {many}", "any": f"At least 1 {one}", "repeat": f"2 or more {many}"}[prefix]
    if column.startswith("activity:"):
        name = column.split(":", 1)[1]
        return {
            "distinct_conversion_types": "Converted in more different ways",
            "visit_days": "Visited on more different days",
            "days_since_last_activity": "Longer since the last activity",
            "page_views": "More page views",
            "pricing_page_views": "More pricing page views",
            "time_on_site_seconds": "More time on the site",
            "avg_visit_seconds": "Longer visits",
        }.get(name, _key_words(name))
    if column.startswith("attr:"):
        key, _, value = column[5:].partition("=")
        if value == OTHER:
            return f"{_key_words(key)}: a rare value"
        if not value:
            return f"More {_human(key)}"
        return f"{_key_words(key)}: {'yes' if value == 'true' else _human(value)}"
    if column in NUMERIC_FIELDS:
        return {"employee_count": "Bigger company", "annual_revenue": "Higher revenue"}[column]
    name, _, value = column.partition("=")
    if value == OTHER:
        return f"{_key_words(name)}: a rare value"
    return describe(Group(name, "category", name), {name: None if value == MISSING else value})
