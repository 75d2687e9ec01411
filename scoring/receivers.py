"""Wiring only: when leads change, schedule their rescoring after the transaction commits; when a
scoring model is saved, forget the cached labels of model versions."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from leads.signals import leads_changed


@receiver(leads_changed)
def schedule_rescoring(sender, lead_ids, **kwargs):
    from .tasks import enqueue_rescoring

    enqueue_rescoring(lead_ids)


@receiver(post_save, sender="scoring.ScoringModel")
@receiver(post_delete, sender="scoring.ScoringModel")
def forget_model_labels(sender, **kwargs):
    from django.db import transaction

    from .selectors import forget_explanation_labels

    forget_explanation_labels()
    transaction.on_commit(forget_explanation_labels)  # and again once the change is visible
