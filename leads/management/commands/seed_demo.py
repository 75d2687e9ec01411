import time

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from leads.demo import demo_data
from leads.models import Lead
from leads.services import interactions_record, leads_upsert

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
        "Fill the app with realistic B2B demo leads, interactions and demo users (password 'demo'). "
        "Deterministic for a seed; re-running updates the same leads and adds no duplicate events."
    )

    def add_arguments(self, parser):
        parser.add_argument("--leads", type=int, default=3000, help="How many leads (default 3000)")
        parser.add_argument("--seed", type=int, default=7, help="Random seed (default 7)")
        parser.add_argument(
            "--days", type=int, default=90, help="Interactions spread over this many days (default 90)"
        )
        parser.add_argument("--if-empty", action="store_true", help="Do nothing when leads exist already")

    def handle(self, *args, leads: int, seed: int, days: int, if_empty: bool, **options):
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
        companies = len({item["company"]["domain"] for item in lead_items if "company" in item})
        self.stdout.write(
            f"Seeded {len(lead_items)} leads ({new_leads} new) at {companies} companies and "
            f"{len(interaction_items)} interactions ({new_interactions} new) over {days} days, "
            f"seed {seed}, in {time.monotonic() - started:.1f} s."
        )
        self.stdout.write("Demo logins:")
        for line in logins:
            self.stdout.write(f"  {line}")


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
