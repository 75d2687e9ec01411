"""Wiring only: when leads change, schedule their rescoring after the transaction commits."""

from django.dispatch import receiver

from leads.signals import leads_changed


@receiver(leads_changed)
def schedule_rescoring(sender, lead_ids, **kwargs):
    from .tasks import enqueue_rescoring

    enqueue_rescoring(lead_ids)
