"""`manage.py seed_demo`: demo leads, interactions and users, scored, with a closed-loop history.

The command lives in `scoring` because it ties the three apps together: `leads` makes the leads
(its pure generator is leads/demo.py), `scoring` scores them, and `handoff` works them
(scoring/demo_history.py). The import rule allows only scoring to use both others.
"""

import argparse
import time

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from leads.demo import demo_data
from leads.models import Lead
from leads.services import interactions_record, leads_upsert
from scoring import demo_history
from scoring.services import leads_rescore

BATCH_SIZE = 1000  # the API's batch limit: the demo takes the same path as integrations
INTERACTION_SOURCE = "demo"
DEMO_PASSWORD = "demo"
# username -> (role groups, is staff and superuser)
DEMO_USERS = {
    "marketer": (("marketing",), False),
    "sdr": (("sales",), False),
    "sdr2": (("sales",), False),
    "admin": (("admin",), True),
}


class Command(BaseCommand):
    help = (
        "Fill the app with realistic B2B demo leads, interactions and demo users (password 'demo'), "
        "an SDR team, scores, and 60 days of hand-offs, BANT reviews and outcomes. Deterministic for "
        "a seed; re-running updates the same leads, adds no duplicate events and keeps the history."
    )

    def add_arguments(self, parser):
        parser.add_argument("--leads", type=int, default=3000, help="How many leads (default 3000)")
        parser.add_argument("--seed", type=int, default=7, help="Random seed (default 7)")
        parser.add_argument(
            "--days", type=int, default=90, help="Interactions spread over this many days (default 90)"
        )
        parser.add_argument("--if-empty", action="store_true", help="Do nothing when leads exist already")
        parser.add_argument(
            "--history",
            action=argparse.BooleanOptionalAction,
            default=True,
            help="Build the hand-off history through the real services (default); --no-history skips it",
        )

    def handle(self, *args, leads: int, seed: int, days: int, if_empty: bool, history: bool, **options):
        if leads < 1 or days < 1:
            raise CommandError("--leads and --days must be at least 1.")
        if if_empty and Lead.objects.exists():
            self.stdout.write("Leads exist already; nothing seeded (--if-empty).")
            return
        started = time.monotonic()
        lead_items, interaction_items = demo_data(lead_count=leads, seed=seed, days=days, now=timezone.now())
        # One transaction: a seed interrupted half-way leaves nothing, so the next
        # `seed_demo --if-empty` at start-up does not mistake a partial demo for a full one.
        with transaction.atomic():
            new_leads = 0
            for batch in _batches(lead_items):
                new_leads += sum(o.created for o in leads_upsert(items=batch))
            new_interactions = 0
            for batch in _batches(interaction_items):
                outcomes = interactions_record(items=batch, source=INTERACTION_SOURCE)
                new_interactions += sum(o.status == "created" for o in outcomes)
            logins = _demo_users_ensure()
            team = demo_history.handoff_setup()
            seeded_at = time.monotonic()
            # Scored now rather than by the worker: the history needs its MQLs. The tasks the
            # writes above enqueue on commit then find nothing marked, which is fine.
            scored = leads_rescore(lead_ids=Lead.objects.values_list("id", flat=True))
            scored_at = time.monotonic()
            built = None
            if history and not demo_history.history_exists():
                built = demo_history.history_build(seed=seed)
        finished = time.monotonic()
        companies = len({item["company"]["domain"] for item in lead_items if "company" in item})
        self.stdout.write(
            f"Seeded {len(lead_items)} leads ({new_leads} new) at {companies} companies and "
            f"{len(interaction_items)} interactions ({new_interactions} new) over {days} days, "
            f"seed {seed}, in {seeded_at - started:.1f} s."
        )
        self.stdout.write(
            f"Scored {scored['rescored']} leads ({scored['promoted']} promoted to MQL) "
            f"in {scored_at - seeded_at:.1f} s."
        )
        self.stdout.write(
            f"Sales team {team.name!r} ({team.timezone}, accept within {team.accept_within_hours:g} "
            f"business hours, escalate after {team.escalate_after_hours:g}): "
            + ", ".join(f"{p.user.username} weight {p.weight} capacity {p.capacity}" for p in _profiles(team))
        )
        if built is not None:
            refused = f", {built['refused']} refused" if built.get("refused") else ""
            self.stdout.write(
                f"History over {demo_history.WINDOW.days} days: {built['handed_off']} of "
                f"{built['mqls']} MQLs handed off{refused}, in {finished - scored_at:.1f} s."
            )
        elif history:
            self.stdout.write("A hand-off history exists already; kept as it is.")
        for line in demo_history.summary():
            self.stdout.write(line)
        self.stdout.write(f"Done in {finished - started:.1f} s.")
        self.stdout.write("Demo logins:")
        for line in logins:
            self.stdout.write(f"  {line}")


def _profiles(team):
    return team.sdrs.select_related("user").order_by("user__username")


def _batches(items: list) -> list[list]:
    return [items[i : i + BATCH_SIZE] for i in range(0, len(items), BATCH_SIZE)]


def _demo_users_ensure() -> list[str]:
    """The demo users in their role groups. An existing user keeps the password it has."""
    logins = []
    for username, (roles, superuser) in DEMO_USERS.items():
        user, created = User.objects.get_or_create(
            username=username, defaults={"email": f"{username}@leadqual.demo"}
        )
        if created:
            user.set_password(DEMO_PASSWORD)
        if superuser:
            user.is_staff = user.is_superuser = True
        user.save()
        user.groups.add(*(Group.objects.get_or_create(name=role)[0] for role in roles))
        role_names = ", ".join(roles)
        if created:
            logins.append(f"{username} / {DEMO_PASSWORD}  ({role_names})")
        else:
            logins.append(f"{username}  ({role_names}; existed already, password not changed)")
    return logins
