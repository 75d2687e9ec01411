"""Reads for scoring pages and the API: the ledger, and preview/backtest of a draft model."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from handoff.models import StageChange
from leads.models import Lead

from . import engine
from .facts import load_interactions, load_leads
from .metrics import auc, precision_recall
from .models import ScoreChange, ScoringModel

POSITIVE_STAGES = ("sql", "opportunity", "customer")
NEGATIVE_ACTIONS = ("reject", "disqualify", "lose")


_labels_by_version: dict[int, engine.ExplanationLabels] = {}


def explanation_labels_for(version: int | None) -> engine.ExplanationLabels | None:
    """The words of model `version` for its criteria and rules, cached per process: only active
    and retired models are stored with a score, their definitions never change after activation
    (the services edit drafts only; the admin shows them read-only) and versions are never
    reused. Saving any model clears the cache anyway (tests reuse versions after a rollback)."""
    if not isinstance(version, int):
        return None
    if version not in _labels_by_version:
        row = ScoringModel.objects.filter(version=version).exclude(status=ScoringModel.Status.DRAFT).first()
        if row is None:
            return None  # not cached: the version may yet be activated
        definition = row.definition if isinstance(row.definition, dict) else {}
        icp = definition.get("icp") if isinstance(definition.get("icp"), dict) else {}
        # Read from the stored words as they are: a definition an older release accepted must
        # still label its explanations even if today's validation would refuse it.
        _labels_by_version[version] = engine.ExplanationLabels(
            criteria=_words(icp.get("criteria")), rules=_words(definition.get("rules"))
        )
    return _labels_by_version[version]


def _words(items) -> dict[str, str]:
    if not isinstance(items, list):
        return {}
    return {
        item["key"]: str(item.get("label") or item["key"])
        for item in items
        if isinstance(item, dict) and isinstance(item.get("key"), str)
    }


def forget_explanation_labels() -> None:
    _labels_by_version.clear()


def rule_labels() -> dict[str, str]:
    """Rule key -> label over every model that has scored leads, the newest model's words first."""
    labels: dict[str, str] = {}
    rows = ScoringModel.objects.exclude(status=ScoringModel.Status.DRAFT).order_by("version")
    for definition in rows.values_list("definition", flat=True):
        labels.update(_words(definition.get("rules") if isinstance(definition, dict) else None))
    return labels


def lead_explanation(stored: dict | None) -> dict:
    """A lead's stored score explanation as readers see it: ``ScoreResult.explanation()`` plus
    ``model_version``, with the labels of the model that computed it."""
    stored = stored or {}
    return engine.expand_explanation(stored, explanation_labels_for(stored.get("model_version")))


def score_history(*, lead_id: int) -> QuerySet[ScoreChange]:
    return ScoreChange.objects.filter(lead_id=lead_id).select_related("model").order_by("-computed_at", "-id")


def score_on(*, lead_id: int, moment) -> ScoreChange | None:
    """The lead's score as it stood at `moment` (the last total written before it)."""
    return (
        ScoreChange.objects.filter(lead_id=lead_id, kind="total", computed_at__lte=moment)
        .order_by("-computed_at", "-id")
        .first()
    )


def outcome_labels() -> dict[int, bool]:
    """Closed-loop truth: True for leads sales qualified (SQL or beyond), False for rejected or
    disqualified ones. Leads with neither outcome are unlabelled and left out of precision/AUC."""
    labels: dict[int, bool] = {}
    negative = StageChange.objects.filter(action__in=NEGATIVE_ACTIONS).values_list("lead_id", flat=True)
    labels.update(dict.fromkeys(negative, False))
    labels.update(
        dict.fromkeys(Lead.objects.filter(stage="disqualified").values_list("id", flat=True), False)
    )
    positive = StageChange.objects.filter(to_stage__in=POSITIVE_STAGES).values_list("lead_id", flat=True)
    labels.update(dict.fromkeys(positive, True))
    labels.update(
        dict.fromkeys(Lead.objects.filter(stage__in=POSITIVE_STAGES).values_list("id", flat=True), True)
    )
    return labels


@dataclass
class ModelSide:
    mql: int = 0
    precision: float | None = None
    recall: float | None = None
    auc: float | None = None


@dataclass
class Backtest:
    leads: int
    labelled: int
    positives: int
    draft: ModelSide
    active: ModelSide
    moving_in: list[dict] = field(default_factory=list)
    moving_out: list[dict] = field(default_factory=list)
    moving_in_count: int = 0
    moving_out_count: int = 0
    computed_at: str = ""


def backtest(
    *, draft: ScoringModel, against: ScoringModel | None = None, limit: int = 50_000, chunk: int = 1000
) -> Backtest:
    """Score up to `limit` leads (newest first) under both models as of now, and compare.

    Both sides are recomputed from facts, so the comparison is like for like even where stored
    scores are stale. Lists of movers are capped at 50 each, highest draft score first.
    """
    against = against or ScoringModel.objects.get(status=ScoringModel.Status.ACTIVE)
    draft_model, active_model = (
        engine.model_from_dict(draft.definition),
        engine.model_from_dict(against.definition),
    )
    labels = outcome_labels()
    now = timezone.now()
    ids = list(Lead.objects.order_by("-id").values_list("id", flat=True)[:limit])
    draft_flags, active_flags, draft_scores, active_scores, y = [], [], [], [], []
    result = Backtest(leads=len(ids), labelled=0, positives=0, draft=ModelSide(), active=ModelSide())
    moving_in, moving_out = [], []
    with connection.cursor() as cursor:
        for start in range(0, len(ids), chunk):
            part = ids[start : start + chunk]
            rows = load_leads(cursor, part, lock=None)
            events = load_interactions(cursor, part)
            for row in rows:
                d = engine.score_lead(draft_model, row.facts, events.get(row.id, ()), now)
                a = engine.score_lead(active_model, row.facts, events.get(row.id, ()), now)
                result.draft.mql += d.mql
                result.active.mql += a.mql
                if d.mql != a.mql:
                    entry = {
                        "id": row.id,
                        "email": row.facts.email,
                        "draft_score": d.score,
                        "active_score": a.score,
                        "fit_grade": d.fit.grade,
                        "engagement_score": d.engagement.score,
                        "stage": row.stage,
                    }
                    (moving_in if d.mql else moving_out).append(entry)
                if row.id in labels:
                    draft_flags.append(d.mql)
                    active_flags.append(a.mql)
                    draft_scores.append(d.score)
                    active_scores.append(a.score)
                    y.append(labels[row.id])
    result.labelled, result.positives = len(y), sum(y)
    for side, flags, scores in (
        (result.draft, draft_flags, draft_scores),
        (result.active, active_flags, active_scores),
    ):
        side.precision, side.recall = precision_recall(flags, y)
        side.auc = auc(scores, y)
    result.moving_in_count, result.moving_out_count = len(moving_in), len(moving_out)
    result.moving_in = sorted(moving_in, key=lambda e: -e["draft_score"])[:50]
    result.moving_out = sorted(moving_out, key=lambda e: -e["active_score"])[:50]
    result.computed_at = now.isoformat()
    return result
