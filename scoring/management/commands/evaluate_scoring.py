"""Evaluate the rule score and the predictive score on a labelled dataset (CSV + mapping file).

    python manage.py evaluate_scoring --data ../shared/data/leadforge_sample \\
        --mapping scoring/evaluation/leadforge_mapping.json [--test-size 0.25] [--seed 7] \\
        [--group-by account_id] [--json results.json]

Rows are imported into memory only (nothing is written to the database; it is only read for the
active scoring model). Each row becomes the same plain lead record the predictive model trains
on in production, plus engine.LeadFacts / InteractionFacts for the rule score. The rows are split
(stratified on the label, or by --group-by so that e.g. one account never sits on both sides);
the predictive model is trained on the train split; the rule score of the ACTIVE scoring model
and the predictive probability are compared on the held-out split (AUC and lift in the top 10%).

The mapping file (JSON) says what the CSV columns mean:

    {
      "files": ["leads.csv"],             # under --data when it is a folder; ignored for a CSV
      "id": "lead_id",                    # row key (joins and events use it)
      "label": {"column": "converted", "positive": ["true", "1", "yes", "won"]},
      "drop": ["leaky_column"],           # never read; naming one elsewhere is an error
      "joins": [{"file": "contacts.csv", "on": "contact_id", "columns": ["job_title"]}],
      "lead": {                           # lead fields: industry, country, seniority, department,
        "industry": "industry",           #   source, utm_medium, job_title, company_domain, email,
        "country": {"column": "region", "values": {"UK": "GB"}},   # employee_count,
        "employee_count": {"column": "size_band", "values": {"200-499": 350}}   # annual_revenue,
      },                                  #   company_size_band, email_domain_type
      "attributes": {"plan": "plan", "seats": {"column": "seats", "type": "number"}},
      "activity": {"days_since_last_activity": "days_idle", "counts.webinar_attendance": "webinars"},
      "events": [{"file": "touches.csv", "lead": "lead_id", "time": "ts", "type": "kind",
                  "types": {"webinar": "webinar_attendance"}, "unmapped_prefix": "touch_",
                  "properties": {"duration_seconds": "seconds"}, "urls": {"pricing": "/pricing"}}],
      "snapshot": {"column": "created_at", "plus_days": 30}    # or {"date": "2024-06-30"}
    }

Activity aggregates come from the events (as predictive.aggregate_events counts them) and then
from "activity" columns, which win. Event types mapped to interaction types score in the rule
model too; unmapped ones (kept only with "unmapped_prefix") feed the predictive model alone.
When there are no events, the rule engine gets events synthesised from "counts.<type>" columns.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandError

from scoring import engine, predictive

LEAD_FIELDS = (
    "industry",
    "country",
    "seniority",
    "department",
    "source",
    "utm_medium",
    "job_title",
    "company_domain",
    "email",
    "employee_count",
    "annual_revenue",
    "company_size_band",
    "email_domain_type",
)
NUMERIC_LEAD_FIELDS = ("employee_count", "annual_revenue")
ACTIVITY_KEYS = {name for name, _ in predictive.ACTIVITY_NUMBERS}


class MappingError(CommandError):
    pass


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        raise MappingError(f"No such file: {path}")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def _spec(value: Any) -> dict:
    return {"column": value} if isinstance(value, str) else dict(value)


def _columns_used(mapping: dict) -> set[str]:
    used = {mapping.get("id", ""), _spec(mapping["label"])["column"]}
    for section in ("lead", "attributes", "activity"):
        used |= {_spec(v)["column"] for v in (mapping.get(section) or {}).values()}
    if mapping.get("snapshot", {}).get("column"):
        used.add(mapping["snapshot"]["column"])
    for join in mapping.get("joins") or []:
        used |= set(join.get("columns") or [])
    used.discard("")
    return used


def _value(row: dict[str, str], spec: dict) -> Any:
    raw = row.get(spec["column"])
    raw = None if raw is None or raw.strip() == "" else raw.strip()
    values = spec.get("values")
    if values is not None and raw is not None:
        raw = values.get(raw, values.get(raw.lower(), spec.get("default", raw)))
    elif raw is None:
        raw = spec.get("default")
    kind = spec.get("type")
    if raw is None or kind in (None, "string"):
        return raw
    if kind == "number":
        return predictive._number(raw)
    if kind == "bool":
        return predictive._truth(raw)
    if kind == "list":
        return [part.strip() for part in str(raw).split(spec.get("separator", ";")) if part.strip()]
    raise MappingError(f"Unknown type {kind!r} for column {spec['column']!r} (number, bool, string, list).")


def _guess(value: Any) -> Any:
    """An attribute given without a type: bool, number or string, as the text reads."""
    if not isinstance(value, str):
        return value
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    number = predictive._number(value)
    return number if number is not None else value


def _moment(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def load_dataset(data: Path, mapping: dict) -> tuple[list[dict], list[int], list[str], list[tuple]]:
    """Rows of the mapping → (records, labels, group keys, rule-engine inputs)."""
    for key in ("id", "label"):
        if key not in mapping:
            raise MappingError(f"The mapping needs {key!r}.")
    folder = data if data.is_dir() else data.parent
    files = [folder / f for f in mapping.get("files", [])] if data.is_dir() else [data]
    if not files:
        raise MappingError("The mapping names no 'files' and --data is a folder.")
    dropped = set(mapping.get("drop") or [])
    leaking = _columns_used(mapping) & dropped
    if leaking:
        raise MappingError(f"The mapping uses dropped column(s): {', '.join(sorted(leaking))}.")
    rows = [row for f in files for row in _read_csv(f)]
    if not rows:
        raise MappingError("The data has no rows.")
    id_column = mapping["id"]
    missing = {id_column, _spec(mapping["label"])["column"]} - set(rows[0])
    if missing:
        raise MappingError(f"Column(s) not in the data: {', '.join(sorted(missing))}.")
    for join in mapping.get("joins") or []:
        table = {r[join["on"]]: r for r in _read_csv(folder / join["file"])}
        for row in rows:
            extra = table.get(row.get(join["on"], ""), {})
            for column in join.get("columns") or []:
                row.setdefault(column, extra.get(column, ""))
    for row in rows:
        for column in dropped:
            row.pop(column, None)

    label = _spec(mapping["label"])
    positive = {str(v).lower() for v in label.get("positive", ["true", "1", "yes"])}
    snapshot = mapping.get("snapshot") or {}
    fixed_now = _moment(snapshot.get("date")) if snapshot.get("date") else None
    events = _load_events(folder, mapping.get("events") or [], {r[id_column] for r in rows})

    records, labels, groups, rule_inputs = [], [], [], []
    for n, row in enumerate(rows):
        key = row[id_column]
        fields = {name: _value(row, _spec(spec)) for name, spec in (mapping.get("lead") or {}).items()}
        unknown = set(fields) - set(LEAD_FIELDS)
        if unknown:
            raise MappingError(
                f"Unknown lead field(s) {', '.join(sorted(unknown))}; use one of {', '.join(LEAD_FIELDS)}."
            )
        for name in NUMERIC_LEAD_FIELDS:
            if name in fields:
                fields[name] = predictive._number(fields[name])
        lead_events = events.get(key, [])
        now = fixed_now
        if now is None and snapshot.get("column"):
            start = _moment(row.get(snapshot["column"]))
            now = start + timedelta(days=float(snapshot.get("plus_days", 0))) if start else None
        if now is None:
            now = max((e[1] for e in lead_events), default=datetime(2000, 1, 1, tzinfo=UTC))
        activity = predictive.aggregate_events([(t, at, p) for t, at, p, _ in lead_events], now)
        for name, spec in (mapping.get("activity") or {}).items():
            value = predictive._number(_value(row, _spec(spec)))
            if name.startswith("counts."):
                activity["counts"][name[len("counts.") :]] = value or 0
            elif name in ACTIVITY_KEYS:
                activity[name] = value
            else:
                raise MappingError(
                    f"Unknown activity aggregate {name!r}; use counts.<type> or one of"
                    f" {', '.join(sorted(ACTIVITY_KEYS))}."
                )
        attributes = {}
        for name, spec in (mapping.get("attributes") or {}).items():
            spec = _spec(spec)
            value = _value(row, spec)
            attributes[name] = _guess(value) if "type" not in spec else value
        domain = fields.get("company_domain") or f"{_slug(key)}.example"
        email = fields.get("email") or (f"{_slug(key)}@{'gmail.com' if _is_personal(fields) else domain}")
        record = {**{k: v for k, v in fields.items() if k != "email"}, "email": email}
        record["attributes"], record["activity"] = attributes, activity
        raw_label = str(row.get(label["column"]) or "").strip().lower()
        records.append(record)
        labels.append(int(raw_label in positive))
        groups.append(row.get(mapping.get("group", ""), "") if mapping.get("group") else "")
        facts = engine.LeadFacts(
            email=email,
            job_title=str(fields.get("job_title") or ""),
            seniority=str(fields.get("seniority") or ""),
            department=str(fields.get("department") or ""),
            country=str(fields.get("country") or ""),
            source=str(fields.get("source") or ""),
            company_domain=domain,
            industry=str(fields.get("industry") or ""),
            employee_count=_int(fields.get("employee_count")),
            annual_revenue=_int(fields.get("annual_revenue")),
            attributes=attributes,
        )
        if lead_events:
            interactions = [
                engine.InteractionFact(i, t, at, p)
                for i, (t, at, p, scores) in enumerate(lead_events, start=n * 100_000)
                if scores
            ]
        else:
            interactions = _synthesised(activity, now, n)
        rule_inputs.append((facts, interactions, now))
    return records, labels, groups, rule_inputs


def _is_personal(fields: dict) -> bool:
    return str(fields.get("email_domain_type") or "").lower() == "personal"


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in str(text).lower()).strip("-") or "lead"


def _int(value: Any) -> int | None:
    number = predictive._number(value)
    return None if number is None else int(number)


def _load_events(folder: Path, specs: list[dict], keys: set[str]) -> dict[str, list[tuple]]:
    """(type, occurred_at, properties, known to the rule engine) per row key, oldest first."""
    by_lead: dict[str, list[tuple]] = defaultdict(list)
    known = set(engine.INTERACTION_TYPES)
    for spec in specs:
        types, prefix = spec.get("types") or {}, spec.get("unmapped_prefix")
        for row in _read_csv(folder / spec["file"]):
            key = row.get(spec["lead"], "")
            if key not in keys:
                continue
            raw_type = (row.get(spec["type"]) or "").strip()
            type_ = types.get(raw_type) or (
                f"{prefix}{raw_type}" if prefix is not None and raw_type else None
            )
            at = _moment(row.get(spec["time"]))
            if not type_ or at is None:
                continue
            properties: dict[str, Any] = {}
            for name, column in (spec.get("properties") or {}).items():
                value = _guess((row.get(column) or "").strip())
                if value not in ("", None):
                    properties[name] = value
            if raw_type in (spec.get("urls") or {}):
                properties["url"] = spec["urls"][raw_type]
            by_lead[key].append((type_, at, properties, type_ in known))
    for events in by_lead.values():
        events.sort(key=lambda e: e[1])
    return by_lead


def _synthesised(activity: dict, now: datetime, n: int) -> list[engine.InteractionFact]:
    """Events for the rule engine from per-type counts, all at the lead's last activity."""
    days = activity.get("days_since_last_activity")
    at = now - timedelta(days=float(days)) if days is not None and not math.isnan(float(days)) else now
    facts, known = [], set(engine.INTERACTION_TYPES)
    for type_, count in (activity.get("counts") or {}).items():
        if type_ in known:
            for _ in range(min(int(count or 0), 1000)):
                facts.append(engine.InteractionFact(n * 100_000 + len(facts), type_, at, {}))
    return facts


# ---------------------------------------------------------------------------------------------
# Evaluating
# ---------------------------------------------------------------------------------------------


def split(
    labels: list[int], groups: list[str], *, test_size: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import StratifiedGroupKFold, train_test_split

    idx = np.arange(len(labels))
    if any(groups):
        folds = max(2, round(1 / test_size))
        splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        train_idx, test_idx = next(splitter.split(idx, labels, groups))
        return train_idx, test_idx
    return train_test_split(idx, test_size=test_size, stratify=labels, random_state=seed)


def evaluate_dataset(
    records: list[dict],
    labels: list[int],
    groups: list[str],
    rule_inputs: list[tuple],
    *,
    rule_model: engine.ScoringModel,
    test_size: float,
    seed: int,
) -> dict[str, Any]:
    y = np.asarray(labels, dtype=int)
    predictive.check_enough_outcomes(int(y.sum()), int(len(y) - y.sum()))
    train_idx, test_idx = split(labels, groups, test_size=test_size, seed=seed)
    model = predictive.fit_model([records[i] for i in train_idx], y[train_idx], seed=seed)
    test_records = [records[i] for i in test_idx]
    probabilities, factors = model.predict_and_explain(test_records)
    rule_scores = [
        engine.score_lead(rule_model, facts, interactions, now).score
        for facts, interactions, now in (rule_inputs[i] for i in test_idx)
    ]
    top = int(np.argmax(probabilities))
    return {
        "rows": len(y),
        "positives": int(y.sum()),
        "negatives": int(len(y) - y.sum()),
        "train_rows": len(train_idx),
        "test_rows": len(test_idx),
        "rule": {
            "auc": predictive.auc_or_none(y[test_idx], rule_scores),
            "lift_top_decile": predictive.lift_at(y[test_idx], rule_scores),
        },
        "predictive": predictive.evaluate(y[test_idx], probabilities),
        "features": len(model.feature_names),
        "drivers": model.drivers(top=5),
        "example": {"probability": round(float(probabilities[top]), 3), "factors": factors[top]},
    }


class Command(BaseCommand):
    help = "Evaluate the rule score and the predictive score on a labelled CSV with a mapping file."

    def add_arguments(self, parser):
        parser.add_argument(
            "--data", required=True, help="a CSV file, or a folder holding the mapping's files"
        )
        parser.add_argument("--mapping", required=True, help="the JSON mapping file")
        parser.add_argument("--test-size", type=float, default=0.25)
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument(
            "--group-by", default="", help="keep rows with the same value of this column on one side"
        )
        parser.add_argument(
            "--default-rules", action="store_true", help="use the shipped default rules, not the active model"
        )
        parser.add_argument("--json", default="", help="also write the results to this file")

    def handle(self, *args, data, mapping, test_size, seed, group_by, default_rules, json: str, **options):
        import json as json_module

        try:
            spec = json_module.loads(Path(mapping).read_text())
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read the mapping {mapping}: {exc}") from exc
        if group_by:
            spec["group"] = group_by
        if not 0 < test_size < 1:
            raise CommandError("--test-size must be between 0 and 1.")
        if default_rules:
            rule_model, rule_name = engine.default_model(), "the shipped default rules"
        else:
            from scoring.services import active_model

            active = active_model()
            rule_model, rule_name = (
                active.model,
                f"active scoring model {active.row.name!r} v{active.row.version}",
            )
        records, labels, groups, rule_inputs = load_dataset(Path(data), spec)
        try:
            result = evaluate_dataset(
                records, labels, groups, rule_inputs, rule_model=rule_model, test_size=test_size, seed=seed
            )
        except predictive.NotEnoughOutcomes as exc:
            raise CommandError(str(exc)) from exc
        result.update(
            {
                "data": str(data),
                "mapping": str(mapping),
                "seed": seed,
                "test_size": test_size,
                "group_by": group_by,
                "rules": rule_name,
            }
        )
        out = self.stdout.write
        out(
            f"Dataset: {data} ({result['rows']:,} rows: {result['positives']:,} converted,"
            f" {result['negatives']:,} not)"
        )
        split_words = f"grouped by {group_by}" if group_by else "stratified"
        out(
            f"Split: {result['train_rows']:,} train / {result['test_rows']:,} held out"
            f" ({split_words}, seed {seed})"
        )
        rule, pred = result["rule"], result["predictive"]
        out(
            f"Rule score ({rule_name}): AUC {_fmt(rule['auc'])},"
            f" lift in the top 10% {_fmt(rule['lift_top_decile'], 2)}x"
        )
        out(
            f"Predictive score: AUC {_fmt(pred['auc'])},"
            f" lift in the top 10% {_fmt(pred['lift_top_decile'], 2)}x,"
            f" Brier {_fmt(pred['brier'])} ({result['features']} features)"
        )
        out("Raises conversion most: " + "; ".join(d["label"] for d in result["drivers"]["plus"]))
        out("Lowers conversion most: " + "; ".join(d["label"] for d in result["drivers"]["minus"]))
        if json:
            Path(json).write_text(json_module.dumps(result, indent=2, default=str))
            out(f"Results written to {json}")


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"
