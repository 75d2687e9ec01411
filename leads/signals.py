"""The one event leads/ publishes: "these leads changed" (new facts, new interactions).

leads/ may not import the scoring app, so scoring subscribes here. The durable part, the
needs_rescore mark, is written by the services in the same transaction; the receiver only
schedules work after commit, so a lost message costs latency, never correctness.
"""

from django.dispatch import Signal

# sent with lead_ids: list[int]
leads_changed = Signal()
