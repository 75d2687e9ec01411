"""Closed-loop outcomes: store every result, and move the lead's stage where the lifecycle allows.

Historical outcomes (a lead that never went through the handoff screens, years of them from
another CRM) are stored all the same: they feed analytics and predictive scoring even when no
stage change applies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from leads.models import Lead, Outcome

from . import lifecycle, services

# The lifecycle actions an outcome implies, from each stage, in order.
PATHS: dict[str, dict[str, tuple[str, ...]]] = {
    "won": {"sql": ("convert", "win"), "opportunity": ("win",)},
    "converted": {"sql": ("convert",)},
    "lost": {"sql": ("lose",), "opportunity": ("lose",)},
    "not_converted": {},
}


@dataclass(frozen=True)
class OutcomeResult:
    status: str  # "created" | "duplicate"
    outcome_id: int
    lead_id: int
    applied: tuple[str, ...] = ()


def outcome_record(*, item: Mapping[str, Any], actor, source: str = "") -> OutcomeResult:
    """Store one validated outcome (item names its lead by `lead_id`) and apply its stage path.

    Invariant: an outcome with an external_id is stored once per source; the stage moves only
    along PATHS, each step through the one transition service (audited, never twice).
    """
    with transaction.atomic():
        lead = Lead.objects.select_for_update(of=("self",)).get(pk=item["lead_id"])
        external_id = item.get("external_id") or None
        src = item.get("source") or source
        if external_id:
            existing = Outcome.objects.filter(source=src, external_id=external_id).first()
            if existing:
                return OutcomeResult("duplicate", existing.pk, lead.pk)
        try:
            with transaction.atomic():
                outcome = Outcome.objects.create(
                    lead=lead,
                    result=item["result"],
                    occurred_at=item["occurred_at"],
                    amount=item.get("amount"),
                    source=src,
                    external_id=external_id,
                )
        except IntegrityError:  # a concurrent send of the same external_id won the race
            existing = Outcome.objects.get(source=src, external_id=external_id)
            return OutcomeResult("duplicate", existing.pk, lead.pk)
        applied = []
        for action in PATHS[item["result"]].get(lead.stage, ()):
            stage = Lead.objects.values_list("stage", flat=True).get(pk=lead.pk)
            try:
                # Outcomes speak for the downstream system, so they act with the integration role
                # whoever imports them; the audit row still names the person.
                services.lead_transition(
                    lead_id=lead.pk,
                    action=action,
                    actor=actor,
                    expected_stage=stage,
                    roles=frozenset({lifecycle.Role.INTEGRATION}),
                    reason="lost" if action == "lose" else "",
                    note=f"outcome from {src or 'api'}",
                    actor_label=f"outcome:{src}" if src else "outcome",
                )
            except services.TransitionRefused:
                break  # the outcome stands; the stage simply stays where the lifecycle keeps it
            applied.append(action)
        if applied:
            Outcome.objects.filter(pk=outcome.pk).update(applied_action=",".join(applied))
        return OutcomeResult("created", outcome.pk, lead.pk, tuple(applied))


def outcomes_record(*, items: Sequence[Mapping[str, Any]], actor, source: str = "") -> list[OutcomeResult]:
    """Each item in its own transaction: one refused stage change never loses the other outcomes."""
    return [outcome_record(item=item, actor=actor, source=source) for item in items]
