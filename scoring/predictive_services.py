"""Predictive scoring in the database: labelled data in, model versions and lead probabilities out.

Invariants kept here:
- at most one PredictiveModel is active; a new model whose held-out AUC is lower than the active
  one's is stored as "rejected" with a message naming both, unless training was forced (then the
  message says it replaced a better model);
- features are computed as of the moment the lead was labelled (interactions after its outcome
  are left out), so the model learns what was known before the result, not from it;
- every read of leads and interactions is set-based: one query for the fields and one grouped
  query for the interaction aggregates per chunk of leads, whatever the chunk size;
- a lead's probability on leads_lead and its LeadPrediction row are written in one transaction,
  so the queue's number and the lead page's factors always come from the same model.

The arithmetic is scoring/predictive.py (no ORM there).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import joblib
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from psycopg2.extras import Json, execute_values

from leads.models import Lead

from . import predictive
from .facts import as_json
from .models import LeadPrediction, PredictiveModel

log = logging.getLogger(__name__)

CHUNK = 5000
POSITIVE_STAGES = ("sql", "opportunity", "customer")
NEGATIVE_ACTIONS = ("reject", "disqualify", "lose")
POSITIVE_RESULTS = ("won", "converted")
# A queued training older than this was lost by the broker (or its worker died): the weekly
# run picks it up instead of starting another.
STALE_AFTER = timedelta(hours=2)

Status = PredictiveModel.Status


# ---------------------------------------------------------------------------------------------
# Labels and records
# ---------------------------------------------------------------------------------------------


def _sql_in(values: Iterable[str]) -> str:
    """A literal IN list of our own constants (never user input)."""
    return "(" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + ")"


# Latest outcome wins: a lead rejected by an SDR and later won is a positive; one that reached
# SQL and was then lost is a negative. The lead's current stage counts too (leads imported
# straight into "customer" have no stage change); when its time is unknown (no
# stage_changed_at) it only decides for leads with no recorded outcome at all.
_LABELS_SQL = f"""
SELECT DISTINCT ON (lead_id) lead_id, positive, at FROM (
    SELECT lead_id, true AS positive, created_at AS at, true AS dated, 1 AS rank FROM handoff_stagechange
     WHERE to_stage IN {_sql_in(POSITIVE_STAGES)}
    UNION ALL
    SELECT lead_id, false, created_at, true, 1 FROM handoff_stagechange
     WHERE action IN {_sql_in(NEGATIVE_ACTIONS)}
    UNION ALL
    SELECT lead_id, result IN {_sql_in(POSITIVE_RESULTS)}, occurred_at, true, 1 FROM leads_outcome
    UNION ALL
    SELECT id, stage <> 'disqualified', coalesce(stage_changed_at, created_at),
           stage_changed_at IS NOT NULL, 0
      FROM leads_lead WHERE stage IN {_sql_in((*POSITIVE_STAGES, "disqualified"))}
) labels
ORDER BY lead_id, dated DESC, at DESC, rank DESC
"""


def outcome_labels_at() -> dict[int, tuple[bool, datetime]]:
    """Every labelled lead: (converted?, when the latest outcome happened)."""
    with connection.cursor() as cursor:
        cursor.execute(_LABELS_SQL)
        return {lead_id: (positive, at) for lead_id, positive, at in cursor.fetchall()}


def label_counts() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE positive), count(*) FILTER (WHERE NOT positive)"
            f" FROM ({_LABELS_SQL}) l"
        )
        positives, negatives = cursor.fetchone()
    return {"positives": positives, "negatives": negatives, "labelled": positives + negatives}


_CONVERSIONS = tuple(sorted(predictive.CONVERSION_TYPES))
_VISITS = tuple(sorted(predictive.VISIT_TYPES))
# The same numbers as predictive.aggregate_events(), per lead and per (lead, type) in one pass.
_ACTIVITY_SQL = f"""
SELECT i.lead_id, i.type, GROUPING(i.type) AS whole, count(*),
       count(DISTINCT (i.occurred_at AT TIME ZONE 'UTC')::date) FILTER (WHERE i.type IN {_sql_in(_VISITS)}),
       max(i.occurred_at),
       count(DISTINCT i.type) FILTER (WHERE i.type IN {_sql_in(_CONVERSIONS)}),
       count(*) FILTER (WHERE i.type = 'pricing_page_view'
                        OR (i.type = 'page_view' AND lower(i.properties->>'url') LIKE '%%/pricing%%')),
       sum(d.seconds), count(d.seconds)
  FROM leads_interaction i
  JOIN unnest(%s::bigint[], %s::timestamptz[]) AS c(lead_id, cutoff) ON c.lead_id = i.lead_id
 CROSS JOIN LATERAL (
       SELECT CASE WHEN jsonb_typeof(i.properties->'duration_seconds') = 'number'
                   THEN (i.properties->>'duration_seconds')::float END AS seconds) d
 WHERE i.occurred_at <= c.cutoff
 GROUP BY GROUPING SETS ((i.lead_id, i.type), (i.lead_id))
"""


def load_records(lead_ids: Sequence[int], cutoffs: Sequence[datetime]) -> dict[int, dict]:
    """Plain predictive records for the leads, their activity counted up to each one's cutoff."""
    ids = list(lead_ids)
    records: dict[int, dict] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT l.id, l.email, l.seniority, l.department, coalesce(nullif(l.country, ''), c.country),"
            " l.source, l.utm_medium, l.attributes, c.industry, c.employee_count, c.annual_revenue"
            " FROM leads_lead l LEFT JOIN leads_company c ON c.id = l.company_id WHERE l.id = ANY(%s)",
            [ids],
        )
        for row in cursor.fetchall():
            records[row[0]] = {
                "email": row[1],
                "seniority": row[2],
                "department": row[3],
                "country": row[4],
                "source": row[5],
                "utm_medium": row[6],
                "attributes": as_json(row[7]),
                "industry": row[8],
                "employee_count": row[9],
                "annual_revenue": row[10],
                "activity": predictive.aggregate_events((), timezone.now()),
            }
        cutoff_of = dict(zip(ids, cutoffs, strict=True))
        cursor.execute(_ACTIVITY_SQL, [ids, list(cutoffs)])
        for (
            lead_id,
            type_,
            whole,
            count,
            days,
            last,
            conversions,
            pricing,
            seconds,
            timed,
        ) in cursor.fetchall():
            record = records.get(lead_id)
            if record is None:
                continue
            activity = record["activity"]
            if not whole:
                activity["counts"][type_] = count
                continue
            activity.update(
                distinct_conversion_types=conversions,
                visit_days=days,
                days_since_last_activity=(cutoff_of[lead_id] - last).total_seconds() / 86_400,
                pricing_page_views=pricing,
                time_on_site_seconds=seconds if timed else None,
                avg_visit_seconds=seconds / timed if timed else None,
            )
    for record in records.values():
        counts = record["activity"]["counts"]
        record["activity"]["page_views"] = counts.get("page_view", 0) + counts.get("pricing_page_view", 0)
    return records


@dataclass
class TrainingData:
    lead_ids: list[int]
    records: list[dict]
    labels: list[bool]


def training_data(*, chunk: int = CHUNK) -> TrainingData:
    labels = outcome_labels_at()
    ids = sorted(labels)
    data = TrainingData([], [], [])
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        records = load_records(part, [labels[i][1] for i in part])
        for lead_id in part:
            if lead_id in records:
                data.lead_ids.append(lead_id)
                data.records.append(records[lead_id])
                data.labels.append(labels[lead_id][0])
    return data


# ---------------------------------------------------------------------------------------------
# Model rows
# ---------------------------------------------------------------------------------------------

_loaded: dict[int, predictive.ConversionModel] = {}


def conversion_model(row: PredictiveModel) -> predictive.ConversionModel:
    """The fitted model of a row (unpickled once per process: artifacts never change)."""
    model = _loaded.get(row.pk)
    if model is None:
        artifact = row.artifact
        if artifact is None:
            artifact = PredictiveModel.objects.values_list("artifact", flat=True).get(pk=row.pk)
        # Trusted input: see PredictiveModel.artifact.
        model = joblib.load(io.BytesIO(bytes(artifact)))
        if len(_loaded) > 2:
            _loaded.clear()
        _loaded[row.pk] = model
    return model


def active_predictive_model() -> PredictiveModel | None:
    return PredictiveModel.objects.filter(status=Status.ACTIVE).first()


def _next_version() -> int:
    last = PredictiveModel.objects.order_by("-version").values_list("version", flat=True).first()
    return (last or 0) + 1


def _enqueue(model_id: int) -> None:
    from .tasks import train_predictive_model_task

    try:
        train_predictive_model_task.delay(model_id)
    except Exception:  # noqa: BLE001 - broker down; the row stays queued and the weekly run takes it
        log.warning("could not enqueue predictive training %s", model_id)
        PredictiveModel.objects.filter(pk=model_id, status=Status.QUEUED).update(
            message="Queued, but the task queue could not be reached; the weekly run will train it."
        )


@transaction.atomic
def predictive_training_request(
    *, actor=None, force: bool = False, trigger: str = "manual"
) -> PredictiveModel:
    """Queue a training run (one at a time: a run already queued or training is returned
    instead, made forced if this request is). The task is sent after commit."""
    # The newest row, locked: two requests at once neither take the same version nor both start.
    PredictiveModel.objects.select_for_update().order_by("-version").first()
    PredictiveModel.objects.filter(
        status__in=[Status.QUEUED, Status.TRAINING], created_at__lt=timezone.now() - STALE_AFTER
    ).update(status=Status.FAILED, message="Abandoned: no worker finished it within two hours.")
    running = (
        PredictiveModel.objects.filter(
            status__in=[Status.QUEUED, Status.TRAINING], created_at__gte=timezone.now() - STALE_AFTER
        )
        .order_by("-version")
        .first()
    )
    if running:
        if force and not running.force:
            running.force = True
            running.save(update_fields=["force"])
        return running
    row = PredictiveModel.objects.create(
        version=_next_version(),
        force=force,
        trigger=trigger,
        requested_by=actor if getattr(actor, "pk", None) else None,
    )
    transaction.on_commit(lambda: _enqueue(row.pk))
    return row


def predictive_training_scheduled() -> PredictiveModel:
    """The weekly run: train what the broker lost, if anything, or a new version."""
    stale = (
        PredictiveModel.objects.filter(
            status=Status.QUEUED, created_at__lt=timezone.now() - timedelta(minutes=10)
        )
        .order_by("version")
        .first()
    )
    if stale is None:
        with transaction.atomic():
            PredictiveModel.objects.select_for_update().order_by("-version").first()
            stale = PredictiveModel.objects.create(version=_next_version(), trigger="schedule")
    return predictive_model_train(model_id=stale.pk)


def _fail(row: PredictiveModel, message: str) -> PredictiveModel:
    row.status, row.message, row.finished_at = Status.FAILED, message, timezone.now()
    row.save(update_fields=["status", "message", "finished_at"])
    return row


def predictive_model_train(*, model_id: int, force: bool | None = None) -> PredictiveModel:
    """Train the queued row, store it with its held-out metrics, activate it unless it is worse
    than the active model (or forced), then score every lead. Safe to run twice: a finished row
    is not trained again, and an active one only finishes scoring."""
    claimed = PredictiveModel.objects.filter(pk=model_id, status__in=[Status.QUEUED, Status.TRAINING]).update(
        status=Status.TRAINING, started_at=timezone.now(), message="Training…"
    )
    row = PredictiveModel.objects.defer("artifact").get(pk=model_id)
    if not claimed:
        if row.status == Status.ACTIVE and row.scored_at is None:
            predictive_score_all(model_id=row.pk)
        return row
    if force is not None:
        row.force = force
    counts = label_counts()
    try:
        predictive.check_enough_outcomes(counts["positives"], counts["negatives"])
        data = training_data()
        result = predictive.train(data.records, data.labels)
    except predictive.NotEnoughOutcomes as exc:
        row.metrics = {
            "positives": exc.positives,
            "negatives": exc.negatives,
            "needed": {
                "positives": exc.more_positives,
                "negatives": exc.more_negatives,
                "either": exc.more_total,
            },
        }
        row.save(update_fields=["metrics"])
        return _fail(row, str(exc))
    except Exception as exc:
        log.exception("predictive training %s failed", model_id)
        return _fail(row, f"Training failed: {exc}")
    buffer = io.BytesIO()
    joblib.dump(result.model, buffer)
    row.artifact = buffer.getvalue()
    row.metrics = result.metrics
    row.feature_names = result.model.feature_names
    row.trained_on = result.trained_on
    row.status = Status.READY
    row.finished_at = timezone.now()
    row.message = f"Trained on {result.trained_on:,} leads; held-out AUC {result.metrics['auc']:.3f}."
    row.save()
    row = _decide(row)
    if row.status == Status.ACTIVE:
        predictive_score_all(model_id=row.pk)
        row.refresh_from_db(fields=["leads_scored", "scored_at", "message"])
    return row


@transaction.atomic
def _decide(row: PredictiveModel) -> PredictiveModel:
    """Activate or reject a trained row against the active model, under a lock on both."""
    locked = PredictiveModel.objects.select_for_update().defer("artifact").get(pk=row.pk)
    active = (
        PredictiveModel.objects.select_for_update().defer("artifact").filter(status=Status.ACTIVE).first()
    )
    new_auc = locked.auc or 0.0
    now = timezone.now()
    if active is None:
        message = f"v{locked.version} is active: held-out AUC {new_auc:.3f}, the first predictive model."
    else:
        old_auc = active.auc or 0.0
        if new_auc < old_auc and not locked.force:
            locked.status = Status.REJECTED
            locked.message = (
                f"Not activated: held-out AUC {new_auc:.3f} < active v{active.version}'s {old_auc:.3f};"
                f" kept v{active.version}. Train with force to use this model anyway."
            )
            locked.save(update_fields=["status", "message"])
            return locked
        if new_auc < old_auc:
            message = (
                f"Forced: v{locked.version} replaced v{active.version} although its held-out AUC"
                f" {new_auc:.3f} is lower than v{active.version}'s {old_auc:.3f}."
            )
        else:
            message = (
                f"v{locked.version} is active: held-out AUC {new_auc:.3f} ≥ v{active.version}'s"
                f" {old_auc:.3f}; v{active.version} retired."
            )
        active.status = Status.RETIRED
        active.save(update_fields=["status"])
    locked.status, locked.activated_at, locked.message = Status.ACTIVE, now, message
    locked.save(update_fields=["status", "activated_at", "message"])
    return locked


# ---------------------------------------------------------------------------------------------
# Scoring leads
# ---------------------------------------------------------------------------------------------


def _predict_and_write(row: PredictiveModel, lead_ids: Sequence[int], now: datetime) -> int:
    """Score the leads with `row` and write probability + factors. Leads locked by another
    writer are taken one at a time afterwards, waiting (one row lock cannot deadlock)."""
    if not lead_ids:
        return 0
    records = load_records(lead_ids, [now] * len(lead_ids))
    ids = sorted(records)
    probabilities, factors = conversion_model(row).predict_and_explain([records[i] for i in ids])
    results = {i: (float(p), f) for i, p, f in zip(ids, probabilities, factors, strict=True)}
    written = _write(row, results, now, wait=False)
    for lead_id in sorted(set(results) - written):
        written |= _write(row, {lead_id: results[lead_id]}, now, wait=True)
    return len(written)


def _write(
    row: PredictiveModel, results: dict[int, tuple[float, dict]], now: datetime, *, wait: bool
) -> set[int]:
    with transaction.atomic(), connection.cursor() as cursor:
        # Same lock as rescoring (NO KEY UPDATE, id order), so neither blocks ingestion.
        cursor.execute(
            "SELECT id FROM leads_lead WHERE id = ANY(%s) ORDER BY id FOR NO KEY UPDATE"
            + ("" if wait else " SKIP LOCKED"),
            [list(results)],
        )
        locked = [i for (i,) in cursor.fetchall()]
        if not locked:
            return set()
        # Only while the model is still the active one: a chunk computed just before a newer
        # model was activated must not overwrite that model's predictions.
        still_active = (
            "EXISTS (SELECT 1 FROM scoring_predictivemodel m"
            f" WHERE m.id = {int(row.pk)} AND m.status = 'active')"
        )
        execute_values(
            cursor.cursor,
            "UPDATE leads_lead l SET conversion_probability = v.p"
            f" FROM (VALUES %s) AS v(id, p) WHERE l.id = v.id AND {still_active}",
            [(i, results[i][0]) for i in locked],
            page_size=CHUNK,
        )
        execute_values(
            cursor.cursor,
            "INSERT INTO scoring_leadprediction (lead_id, model_id, probability, factors, computed_at)"
            f" SELECT * FROM (VALUES %s) AS v WHERE {still_active}"
            " ON CONFLICT (lead_id) DO UPDATE SET model_id = EXCLUDED.model_id,"
            " probability = EXCLUDED.probability, factors = EXCLUDED.factors,"
            " computed_at = EXCLUDED.computed_at",
            [(i, row.pk, results[i][0], Json(results[i][1]), now) for i in locked],
            template="(%s::bigint, %s::bigint, %s::float, %s::jsonb, %s::timestamptz)",
            page_size=CHUNK,
        )
    return set(locked)


def predictive_score_all(*, model_id: int, chunk: int = CHUNK) -> int:
    """Score every lead with the model, in id ranges of `chunk`. Stops if another model was
    activated meanwhile (that one scores everything itself). Returns the leads scored."""
    last, scored = 0, 0
    PredictiveModel.objects.filter(pk=model_id).update(leads_scored=0)
    while True:
        row = PredictiveModel.objects.defer("artifact").get(pk=model_id)
        if row.status != Status.ACTIVE:
            return scored
        ids = list(Lead.objects.filter(id__gt=last).order_by("id").values_list("id", flat=True)[:chunk])
        if not ids:
            break
        done = _predict_and_write(row, ids, timezone.now())
        scored += done
        last = ids[-1]
        PredictiveModel.objects.filter(pk=model_id).update(leads_scored=F("leads_scored") + done)
    PredictiveModel.objects.filter(pk=model_id).update(scored_at=timezone.now())
    return scored


def predict_for_leads(lead_ids: Iterable[int]) -> int:
    """The hook for new or changed leads: score them with the active model, if there is one."""
    row = PredictiveModel.objects.defer("artifact").filter(status=Status.ACTIVE).first()
    ids = sorted(set(lead_ids))
    if row is None or not ids:
        return 0
    now, done = timezone.now(), 0
    for start in range(0, len(ids), CHUNK):
        done += _predict_and_write(row, ids[start : start + CHUNK], now)
    return done


# ---------------------------------------------------------------------------------------------
# Reads for pages and the API
# ---------------------------------------------------------------------------------------------


def lead_prediction(*, lead_id: int) -> LeadPrediction | None:
    return LeadPrediction.objects.select_related("model").filter(lead_id=lead_id).first()


def predictive_overview() -> dict:
    """What the scoring page's predictive panel shows: the active model, the latest run, the
    outcomes so far and how many more are needed."""
    fields = [f.name for f in PredictiveModel._meta.fields if f.name != "artifact"]
    rows = list(
        PredictiveModel.objects.only(*fields).select_related("requested_by").order_by("-version")[:10]
    )
    active = next((m for m in rows if m.status == Status.ACTIVE), None)
    if active is None:
        active = PredictiveModel.objects.only(*fields).filter(status=Status.ACTIVE).first()
    counts = label_counts()
    try:
        predictive.check_enough_outcomes(counts["positives"], counts["negatives"])
        shortfall = ""
    except predictive.NotEnoughOutcomes as exc:
        shortfall = str(exc)
    return {
        "active": active,
        "latest": rows[0] if rows else None,
        "history": rows,
        "counts": counts,
        "shortfall": shortfall,
        "minimums": {
            "positives": predictive.MIN_POSITIVES,
            "negatives": predictive.MIN_NEGATIVES,
            "total": predictive.MIN_TOTAL,
        },
        "leads_with_probability": Lead.objects.filter(conversion_probability__isnull=False).count(),
    }
