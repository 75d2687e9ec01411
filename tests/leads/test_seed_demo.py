import statistics
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.utils import timezone

from leads.api.serializers import InteractionInSerializer, LeadInSerializer
from leads.demo import TITLES, demo_data
from leads.enrichment import PERSONAL_EMAIL_DOMAINS, email_domain, seniority_from_title
from leads.models import Company, Interaction, Lead
from tests.factories import LeadFactory

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
HAND_RAISES = ("demo_request", "contact_request")


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # The command hashes four passwords per run; the production hasher would make this file slow.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", "--leads", "120", *args, stdout=out)
    return out.getvalue()


def _is_personal(email: str) -> bool:
    return email_domain(email) in PERSONAL_EMAIL_DOMAINS


@pytest.mark.django_db
def test_seed_creates_leads_with_varied_firmographics_and_channels():
    output = seed()

    leads = list(Lead.objects.select_related("company"))
    assert len(leads) == 120
    assert "Seeded 120 leads (120 new)" in output
    assert 25 <= Company.objects.count() <= 40  # about one company per four leads
    assert len({lead.company.industry for lead in leads if lead.company}) >= 6
    assert len({lead.source for lead in leads}) >= 6
    assert len({lead.country for lead in leads}) >= 4
    assert {"c_level", "vp", "director", "manager", "individual"} <= {lead.seniority for lead in leads}
    assert 0.04 <= sum(_is_personal(lead.email) for lead in leads) / len(leads) <= 0.25
    paid = [lead for lead in leads if lead.source == "paid_search"]
    assert paid and all(lead.utm_medium == "cpc" for lead in paid)
    assert any("tech_stack" in lead.attributes for lead in leads)
    sized = Company.objects.filter(employee_count__isnull=False, annual_revenue__isnull=False)
    assert sized.count() >= 20
    for company in sized:
        assert 5 <= company.employee_count <= 20_000
        assert 20_000 <= company.annual_revenue / company.employee_count <= 1_500_000


@pytest.mark.django_db
def test_seed_records_interactions_that_differ_by_segment():
    seed()

    interactions = list(Interaction.objects.all())
    assert 8 <= len(interactions) / Lead.objects.count() <= 15
    types = {i.type for i in interactions}
    assert {"page_view", "pricing_page_view", "content_download", "webinar_registration"} <= types
    assert {"email_click", "email_open"} <= types
    assert types & set(HAND_RAISES)
    assert types & {"unsubscribe", "bounce"}
    assert all(i.source == "demo" and i.external_id for i in interactions)
    page_views = [i.properties for i in interactions if i.type == "page_view"]
    assert all(p["url"].startswith("/") and p["duration_seconds"] > 0 for p in page_views)
    assert any(p["url"].startswith("/careers") for p in page_views)
    stages = {i.properties["asset_stage"] for i in interactions if i.type == "content_download"}
    assert stages <= {"awareness", "consideration", "decision"} and len(stages) >= 2
    # Engaged leads come back on several distinct days.
    days_per_lead: dict[int, set] = {}
    for i in interactions:
        days_per_lead.setdefault(i.lead_id, set()).add(i.occurred_at.date())
    assert max(len(days) for days in days_per_lead.values()) >= 4


@pytest.mark.django_db
def test_interactions_spread_over_the_days_window_and_none_in_the_future():
    before = timezone.now()
    seed("--days", "30")
    after = timezone.now()

    times = list(Interaction.objects.values_list("occurred_at", flat=True))
    assert before - timedelta(days=30) <= min(times) < before - timedelta(days=20)
    assert before - timedelta(days=3) < max(times) <= after
    assert len({t.date() for t in times}) >= 20


@pytest.mark.django_db
def test_demo_users_are_in_their_role_groups_and_can_log_in(client):
    output = seed()

    groups = {u.username: {g.name for g in u.groups.all()} for u in User.objects.all()}
    assert groups == {
        "marketer": {"marketing"},
        "sdr": {"sales"},
        "sdr2": {"sales"},
        "admin": {"admin"},
    }
    admin = User.objects.get(username="admin")
    assert admin.is_staff and admin.is_superuser
    assert not User.objects.get(username="sdr").is_staff
    for username in groups:
        assert client.login(username=username, password="demo"), username
        assert f"{username} / demo" in output


@pytest.mark.django_db
def test_rerunning_does_not_duplicate_leads_interactions_or_users():
    seed()
    counts = (
        Lead.objects.count(),
        Company.objects.count(),
        Interaction.objects.count(),
        User.objects.count(),
    )

    output = seed()

    assert (
        Lead.objects.count(),
        Company.objects.count(),
        Interaction.objects.count(),
        User.objects.count(),
    ) == counts
    assert "Seeded 120 leads (0 new)" in output
    assert "interactions (0 new)" in output


@pytest.mark.django_db
def test_if_empty_is_a_no_op_when_leads_exist():
    LeadFactory(email="someone@acme.io")

    output = seed("--if-empty")

    assert list(Lead.objects.values_list("email", flat=True)) == ["someone@acme.io"]
    assert not Interaction.objects.exists()
    assert not User.objects.exists()
    assert "nothing seeded" in output


@pytest.mark.django_db
def test_if_empty_seeds_an_empty_database():
    seed("--if-empty")

    assert Lead.objects.count() == 120
    assert Interaction.objects.exists()


@pytest.mark.django_db
def test_rejects_a_non_positive_lead_count():
    with pytest.raises(CommandError):
        seed("--leads", "0")
    assert not Lead.objects.exists()


def test_the_same_seed_gives_the_same_data():
    first = demo_data(lead_count=120, seed=7, days=90, now=NOW)
    second = demo_data(lead_count=120, seed=7, days=90, now=NOW)
    other = demo_data(lead_count=120, seed=8, days=90, now=NOW)

    assert sorted(lead["email"] for lead in first[0]) == sorted(lead["email"] for lead in second[0])
    assert first == second
    assert sorted(lead["email"] for lead in first[0]) != sorted(lead["email"] for lead in other[0])


def test_generated_items_pass_the_api_validation():
    leads, interactions = demo_data(lead_count=120, seed=7, days=90, now=timezone.now())

    for item in leads:
        serializer = LeadInSerializer(data=item)
        assert serializer.is_valid(), (item, serializer.errors)
    for item in interactions:
        serializer = InteractionInSerializer(data=item)
        assert serializer.is_valid(), (item, serializer.errors)
    assert len({i["external_id"] for i in interactions}) == len(interactions)


def test_titles_derive_the_seniority_they_are_listed_under():
    for seniority, (_, titles) in TITLES.items():
        for title in titles:
            assert seniority_from_title(title) == seniority, title


def test_shares_of_knock_outs_and_hand_raisers_are_realistic():
    leads, interactions = demo_data(lead_count=1000, seed=7, days=90, now=NOW)

    domains = [email_domain(lead["email"]) for lead in leads]
    assert 0.08 <= sum(d in PERSONAL_EMAIL_DOMAINS for d in domains) / len(leads) <= 0.17
    assert 1 <= sum(d in ("hubspot.com", "salesforce.com", "pipedrive.com") for d in domains) <= 25
    students = [lead for lead in leads if seniority_from_title(lead["job_title"]) == "student"]
    assert 10 <= len(students) <= 60
    hand_raisers = {i["email"] for i in interactions if i["type"] in HAND_RAISES}
    assert 0.02 <= len(hand_raisers) / len(leads) <= 0.08


def test_hand_raisers_are_active_more_recently_than_the_rest():
    _, interactions = demo_data(lead_count=1000, seed=7, days=90, now=NOW)

    hand_raisers = {i["email"] for i in interactions if i["type"] in HAND_RAISES}
    age = {True: [], False: []}
    for i in interactions:
        age[i["email"] in hand_raisers].append((NOW - i["occurred_at"]).days)
    assert statistics.median(age[True]) < 0.75 * statistics.median(age[False])


def test_generated_interactions_stay_inside_the_window_for_many_leads():
    # A short window puts many sessions on the last day, where an off-by-an-hour would show.
    _, interactions = demo_data(lead_count=2000, seed=7, days=7, now=NOW)

    times = [i["occurred_at"] for i in interactions]
    assert NOW - timedelta(days=7) <= min(times)
    assert max(times) < NOW
    assert max(times) > NOW - timedelta(hours=3)
