import statistics
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from handoff import lifecycle
from handoff.models import (
    Assignment,
    QualificationPolicySetting,
    QualificationReview,
    SalesTeam,
    SdrProfile,
    StageChange,
)
from leads.api.serializers import InteractionInSerializer, LeadInSerializer
from leads.demo import TITLES, demo_data
from leads.enrichment import PERSONAL_EMAIL_DOMAINS, email_domain, seniority_from_title
from leads.models import Company, Interaction, Lead
from scoring.models import ScoreChange
from tests.factories import LeadFactory

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
HAND_RAISES = ("demo_request", "contact_request")


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # The command hashes four passwords per run; the production hasher would make this file slow.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def seed(*args: str, leads: int = 120) -> str:
    out = StringIO()
    call_command("seed_demo", "--leads", str(leads), *args, stdout=out)
    return out.getvalue()


def history_counts() -> tuple[int, ...]:
    return (
        StageChange.objects.count(),
        Assignment.objects.count(),
        QualificationReview.objects.count(),
        SalesTeam.objects.count(),
        SdrProfile.objects.count(),
        QualificationPolicySetting.objects.count(),
    )


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
def test_rerunning_does_not_duplicate_leads_interactions_users_or_history():
    seed()
    counts = (
        Lead.objects.count(),
        Company.objects.count(),
        Interaction.objects.count(),
        User.objects.count(),
    )
    history = history_counts()[1:]  # a rerun rescores, which may promote rejected leads again

    output = seed()

    assert (
        Lead.objects.count(),
        Company.objects.count(),
        Interaction.objects.count(),
        User.objects.count(),
    ) == counts
    assert history_counts()[1:] == history
    assert "Seeded 120 leads (0 new)" in output
    assert "interactions (0 new)" in output
    assert "A hand-off history exists already; kept as it is." in output


@pytest.mark.django_db
def test_if_empty_is_a_no_op_when_leads_exist():
    LeadFactory(email="someone@acme.io")

    output = seed("--if-empty")

    assert list(Lead.objects.values_list("email", flat=True)) == ["someone@acme.io"]
    assert not Interaction.objects.exists()
    assert not User.objects.exists()
    assert history_counts() == (0, 0, 0, 0, 0, 0)
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


# --- the sales side: team, scores and a closed-loop history -----------------------------------


def _event_times() -> list:
    """Every timestamp that records something that happened (deadlines are meant to be ahead)."""
    times = list(StageChange.objects.values_list("created_at", flat=True))
    times += QualificationReview.objects.values_list("created_at", flat=True)
    times += Assignment.objects.values_list("assigned_at", flat=True)
    times += Assignment.objects.exclude(resolved_at=None).values_list("resolved_at", flat=True)
    times += Lead.objects.exclude(stage_changed_at=None).values_list("stage_changed_at", flat=True)
    times += Lead.objects.exclude(handed_off_at=None).values_list("handed_off_at", flat=True)
    times += Interaction.objects.values_list("occurred_at", flat=True)
    times += SdrProfile.objects.exclude(last_assigned_at=None).values_list("last_assigned_at", flat=True)
    return times


def _snapshot() -> tuple:
    return (
        list(Lead.objects.order_by("id").values_list("id", "stage", "owner_id", "score", "stage_changed_at")),
        history_counts(),
        Interaction.objects.count(),
        ScoreChange.objects.count(),
        User.objects.count(),
        sorted(_event_times()),
    )


@pytest.mark.django_db
def test_the_demo_has_a_team_two_sdrs_and_the_policy():
    seed()

    team = SalesTeam.objects.get(name="Inbound SDRs")
    assert team.timezone == "Europe/London"
    assert (team.day_start.hour, team.day_end.hour) == (9, 17)
    assert sorted(team.workdays) == [0, 1, 2, 3, 4]
    assert (team.accept_within_hours, team.escalate_after_hours) == (4, 8)
    assert team.manager.username == "admin" and team.manager.email
    profiles = {p.user.username: p for p in SdrProfile.objects.select_related("user", "team")}
    assert (profiles["sdr"].weight, profiles["sdr"].capacity, profiles["sdr"].countries) == (2, 60, [])
    assert (profiles["sdr2"].weight, profiles["sdr2"].capacity) == (1, 40)
    assert profiles["sdr2"].countries == ["DE", "AT", "CH", "FR", "NL"]
    assert all(p.team == team and p.is_active for p in profiles.values())
    policy = QualificationPolicySetting.objects.get()
    assert policy.as_policy() == lifecycle.DEFAULT_POLICY


@pytest.mark.django_db
def test_a_seeded_demo_has_a_closed_loop_history_through_the_services():
    started = timezone.now()
    output = seed(leads=300)
    now = timezone.now()

    stages = {s for s in Lead.objects.values_list("stage", flat=True)}
    assert {"lead", "mql", "sal", "sql", "recycled", "disqualified"} <= stages
    # Every lead is scored; the scoring engine promoted the MQLs.
    assert not Lead.objects.filter(needs_rescore=True).exists()
    assert StageChange.objects.filter(action="promote", actor_label="scoring engine").count() >= 15
    # Hand-offs by the marketer, routed to the SDRs by territory.
    handoffs = StageChange.objects.filter(action="handoff")
    assert handoffs.exists()
    assert set(handoffs.values_list("actor__username", flat=True)) == {"marketer"}
    assignments = Assignment.objects.select_related("lead", "owner")
    assert assignments.count() == handoffs.count()
    assert all(a.routed for a in assignments)
    assert {a.owner.username for a in assignments} == {"sdr", "sdr2"}
    assert all(
        a.lead.country in ("DE", "AT", "CH", "FR", "NL") for a in assignments if a.owner.username == "sdr2"
    )
    assert {"accepted", "rejected", "open"} <= set(assignments.values_list("status", flat=True))
    # Rejections carry their reason codes; recycles a nurture date ahead.
    rejects = StageChange.objects.filter(action="reject")
    assert rejects.exists()
    assert set(rejects.values_list("reason", flat=True)) <= set(lifecycle.REJECT_REASONS) - {"other"}
    recycled = Lead.objects.filter(stage_changes__action="recycle")
    assert recycled.exists()
    assert all(lead.nurture_until > now.date() for lead in recycled)
    assert set(StageChange.objects.filter(action="recycle").values_list("reason", flat=True)) <= {
        "no_budget_now",
        "bad_timing",
        "not_ready",
    }
    # Every lead that reached SQL has a BANT review that met the policy, by its owner.
    qualified = Lead.objects.filter(id__in=StageChange.objects.filter(action="qualify").values("lead_id"))
    assert qualified.exists()
    for lead in qualified:
        review = lead.qualification_reviews.get(outcome="qualify")
        assert review.policy_met and not review.policy_missing
        assert review.reviewer_id == lead.owner_id
    assert Lead.objects.filter(stage__in=("opportunity", "customer")).exists() or (
        StageChange.objects.filter(action="convert").exists()
    )
    # At least one hand-off waits past its SLA, as the home page and the escalation job expect.
    overdue = Lead.objects.filter(stage="mql", handed_off_at__isnull=False, sla_due_at__lt=started)
    assert overdue.exists()
    assert Assignment.objects.filter(lead__in=overdue, status="open", sla_due_at__lt=started).exists()
    # The timeline: spread over the last 60 days, nothing in the future, in order per lead.
    times = _event_times()
    assert max(times) <= now
    history = list(StageChange.objects.exclude(action="promote").values_list("created_at", flat=True))
    assert min(history) >= started - timedelta(days=61)
    assert max(history) - min(history) > timedelta(days=20)
    for lead in Lead.objects.exclude(stage="lead").prefetch_related("stage_changes"):
        changes = sorted(lead.stage_changes.all(), key=lambda c: c.id)
        assert [c.created_at for c in changes] == sorted(c.created_at for c in changes), lead.email
        moved = [c for c in changes if c.from_stage != c.to_stage]
        assert lead.stage_changed_at == moved[-1].created_at
    for assignment in Assignment.objects.exclude(resolved_at=None):
        assert assignment.assigned_at <= assignment.resolved_at
    assert "Leads per stage:" in output and "BANT reviews:" in output and "Assignments:" in output

    before = _snapshot()
    again = seed("--if-empty", leads=300)

    assert "nothing seeded" in again
    assert _snapshot() == before


@pytest.mark.django_db
def test_no_history_seeds_and_scores_but_hands_nothing_off():
    output = seed("--no-history")

    assert Lead.objects.filter(stage="mql").exists()
    assert SalesTeam.objects.exists() and SdrProfile.objects.count() == 2
    assert not Assignment.objects.exists()
    assert not QualificationReview.objects.exists()
    assert set(StageChange.objects.values_list("action", flat=True)) == {"promote"}
    assert "History over" not in output


@pytest.mark.django_db
def test_every_handoff_model_answers_in_the_admin_without_a_query_per_row(client):
    seed()
    assert client.login(username="admin", password="demo")

    for model in (
        SalesTeam,
        SdrProfile,
        Assignment,
        QualificationReview,
        QualificationPolicySetting,
        StageChange,
    ):
        name = model._meta.model_name
        with CaptureQueriesContext(connection) as queries:
            listing = client.get(reverse(f"admin:handoff_{name}_changelist"))
        assert listing.status_code == 200, name
        # Session, user, the page and its filters: a fixed number, not one per row listed.
        assert len(queries) <= 15, (name, len(queries))
        row = model.objects.order_by("pk").first()
        page = client.get(reverse(f"admin:handoff_{name}_change", args=[row.pk]))
        assert page.status_code == 200, name


@pytest.mark.django_db
def test_the_audit_trail_cannot_be_added_edited_or_deleted_in_the_admin(client):
    seed()
    assert client.login(username="admin", password="demo")
    change = StageChange.objects.order_by("pk").first()

    assert client.get(reverse("admin:handoff_stagechange_add")).status_code == 403
    assert client.get(reverse("admin:handoff_stagechange_delete", args=[change.pk])).status_code == 403
    page = client.get(reverse("admin:handoff_stagechange_change", args=[change.pk])).content.decode()
    assert 'name="_save"' not in page
    assert client.get(reverse("admin:handoff_assignment_add")).status_code == 403
    assert client.get(reverse("admin:handoff_qualificationreview_add")).status_code == 403
    # The policy is a singleton: no second row.
    assert client.get(reverse("admin:handoff_qualificationpolicysetting_add")).status_code == 403


@pytest.mark.django_db
def test_the_policy_admin_refuses_an_unknown_criterion(client):
    seed("--no-history")
    assert client.login(username="admin", password="demo")
    policy = QualificationPolicySetting.objects.get()
    url = reverse("admin:handoff_qualificationpolicysetting_change", args=[policy.pk])

    response = client.post(
        url,
        {
            "required": '["need", "money"]',
            "min_confirmed": "3",
            "max_timeline_months": "6",
            "authority_roles": '["decision_maker"]',
        },
    )

    assert response.status_code == 200
    assert "unknown criteria" in response.content.decode()
    policy.refresh_from_db()
    assert policy.required == ["authority", "need"]
