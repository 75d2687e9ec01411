"""The MQL queue and the SDR inbox page through large lists by index: every sort pages without gaps
or repeats, the counts stay whole-queue, and the inbox shows totals beyond its first page."""

import random
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from handoff import selectors
from handoff.views import PAGE_SIZE
from leads.models import Lead
from tests.factories import CompanyFactory, LeadFactory

pytestmark = pytest.mark.django_db

ROW_ID = re.compile(r'name="lead_ids" value="(\d+)"')


@pytest.fixture
def queue():
    rng = random.Random(7)
    now = timezone.now()
    leads = [
        LeadFactory(
            stage="mql",
            fit_grade=rng.choice("ABCD"),
            fit_score=rng.randint(0, 100),
            engagement_score=rng.randint(0, 150),
            score=rng.choice([40, 55, 70, 85]),  # ties: the id must break them
            source=rng.choice(["paid_search", "webinar", "organic_search", ""]),
            stage_changed_at=now - timedelta(minutes=rng.randint(0, 5000)),
            conversion_probability=rng.choice([None, 0.1, 0.4, 0.8]),
        )
        for _ in range(2 * PAGE_SIZE + 17)
    ]
    LeadFactory(stage="mql", handed_off_at=now, fit_grade="A", source="partner")  # not in the queue
    LeadFactory(stage="sal", fit_grade="A", source="partner")
    return leads


def _walk(client, sort: str) -> list[int]:
    ids, page = [], 1
    while True:
        html = client.get(f"/queues/mql/?sort={sort}&page={page}").content.decode()
        ids += [int(i) for i in ROW_ID.findall(html)]
        if "Next →" not in html:
            return ids
        page += 1


def _expected(leads, sort: str) -> list[int]:
    def prob(lead):  # DESC NULLS LAST
        return (lead.conversion_probability is None, -(lead.conversion_probability or 0))

    keys = {
        "score": lambda lead: (-lead.score, -lead.pk),
        "fit": lambda lead: (-lead.fit_score, -lead.score, -lead.pk),
        "engagement": lambda lead: (-lead.engagement_score, -lead.pk),
        "age": lambda lead: (lead.stage_changed_at, lead.pk),
        "source": lambda lead: (lead.source, -lead.score, -lead.pk),
        "probability": lambda lead: (*prob(lead), -lead.score, -lead.pk),
    }
    return [lead.pk for lead in sorted(leads, key=keys[sort])]


@pytest.mark.parametrize("sort", ["score", "fit", "engagement", "age", "source", "probability"])
def test_every_sort_pages_through_the_whole_queue_in_order(client, marketer, queue, sort):
    client.force_login(marketer)
    assert _walk(client, sort) == _expected(queue, sort)


def test_newest_is_age_reversed(client, marketer, queue):
    client.force_login(marketer)
    assert _walk(client, "newest") == list(reversed(_expected(queue, "age")))


def test_fit_sort_puts_the_best_fit_first(client, marketer, queue):
    client.force_login(marketer)
    first = _walk(client, "fit")[0]
    assert Lead.objects.get(pk=first).fit_score == max(lead.fit_score for lead in queue)


def test_facets_count_the_whole_queue_per_grade_and_list_its_sources(queue):
    facets = selectors.mql_queue_facets()
    for grade in "ABCD":
        assert facets.counts.get(grade, 0) == sum(1 for lead in queue if lead.fit_grade == grade)
    assert facets.counts["all"] == len(queue)
    assert facets.sources == sorted({lead.source for lead in queue} - {""})
    assert "partner" not in facets.sources


def test_a_page_past_the_end_says_so_and_leads_back(client, marketer, queue):
    client.force_login(marketer)
    html = client.get("/queues/mql/?sort=age&page=99").content.decode()
    assert ROW_ID.findall(html) == []
    assert "No more MQLs past page 98" in html and "No MQLs match" not in html
    assert 'href="?sort=age">Back to the first page' in html
    assert "← Previous" in html


@pytest.mark.parametrize(
    "url", ["/queues/mql/?page=99999999999999999999", "/queues/sales/?sals_page=9" + "9" * 30]
)
def test_an_absurd_page_number_is_not_an_error(client, marketer, sdr, url):
    client.force_login(sdr if "sales" in url else marketer)
    assert client.get(url).status_code == 200


def _hand_off(sdr, n: int, *, overdue: int = 0):
    now = timezone.now()
    return [
        LeadFactory(
            stage="mql",
            owner=sdr,
            handed_off_at=now,
            sla_due_at=now + (timedelta(hours=-1 - i) if i < overdue else timedelta(hours=1 + i)),
        )
        for i in range(n)
    ]


def test_the_inbox_pages_a_large_backlog_and_counts_all_of_it(client, sdr, django_assert_max_num_queries):
    waiting = _hand_off(sdr, PAGE_SIZE + 12, overdue=3)
    sals = LeadFactory.create_batch(PAGE_SIZE + 2, stage="sal", owner=sdr, stage_changed_at=timezone.now())
    client.force_login(sdr)
    with django_assert_max_num_queries(12):
        html = client.get("/queues/sales/").content.decode()
    assert f"Waiting for you ({PAGE_SIZE + 12})" in html
    assert "3 overdue" in html
    assert f"Your SALs awaiting qualification ({PAGE_SIZE + 2})" in html
    most_urgent = sorted(waiting, key=lambda lead: lead.sla_due_at)
    assert html.count("Accept lead") == PAGE_SIZE
    assert f"Accept {most_urgent[0].email}" in html
    assert f"Accept {most_urgent[PAGE_SIZE].email}" not in html
    assert "?page=2" in html and "?sals_page=2" in html

    second = client.get("/queues/sales/?page=2").content.decode()
    assert second.count("Accept lead") == 12
    assert f"Accept {most_urgent[-1].email}" in second
    assert f"Your SALs awaiting qualification ({PAGE_SIZE + 2})" in second

    sals_2 = client.get("/queues/sales/?page=2&sals_page=2").content.decode()
    assert sals_2.count("BANT call for") == 2
    assert {s.email for s in sals} >= set(re.findall(r"BANT call for (\S+)</a>", sals_2))


@pytest.mark.parametrize(
    "q, expected",
    [
        ("zor", {"zora@a.io"}),  # first name prefix, any case
        ("KOV", {"zora@a.io", "ivan@b.io"}),  # last name prefix
        ("globex", {"carl@c.io"}),  # company name prefix
        ("ivan@", {"ivan@b.io"}),  # an e-mail address
        ("Ivan@B.io", {"ivan@b.io"}),
        ("qzx", set()),
        ("ora", set()),  # a prefix search, not a substring search
    ],
)
def test_queue_search_by_name_company_or_email_prefix(client, marketer, q, expected):
    globex = CompanyFactory(name="Globex Corp")
    LeadFactory(stage="mql", first_name="Zora", last_name="Kovacs", email="zora@a.io")
    LeadFactory(stage="mql", first_name="Ivan", last_name="Kovalenko", email="ivan@b.io")
    LeadFactory(stage="mql", first_name="Carl", last_name="Berg", email="carl@c.io", company=globex)
    LeadFactory(stage="sal", first_name="Zoran", company=globex, email="zoran@d.io")  # not queued
    client.force_login(marketer)
    html = client.get("/queues/mql/", {"q": q}).content.decode()
    shown = {email for email in ("zora@a.io", "ivan@b.io", "carl@c.io", "zoran@d.io") if email in html}
    assert shown == expected


def test_each_inbox_list_pages_on_its_own_and_keeps_the_others_page(client, sdr):
    _hand_off(sdr, 2 * PAGE_SIZE + 3)
    LeadFactory.create_batch(2 * PAGE_SIZE + 1, stage="sal", owner=sdr, stage_changed_at=timezone.now())
    client.force_login(sdr)
    html = client.get("/queues/sales/?page=2&sals_page=2").content.decode().replace("&amp;", "&")
    for link in ("?page=1&sals_page=2", "?page=3&sals_page=2", "?page=2&sals_page=1", "?page=2&sals_page=3"):
        assert f'href="{link}"' in html, link


def test_a_page_past_the_end_of_the_inbox_shows_the_last_page(client, sdr):
    waiting = sorted(_hand_off(sdr, PAGE_SIZE + 4), key=lambda lead: lead.sla_due_at)
    client.force_login(sdr)
    html = client.get("/queues/sales/?page=7").content.decode()
    assert html.count("Accept lead") == 4
    assert f"Accept {waiting[-1].email}" in html
    assert "← Previous" in html and "Page 2" in html


def test_accepting_without_javascript_returns_to_the_same_page(client, sdr):
    waiting = sorted(_hand_off(sdr, PAGE_SIZE + 4), key=lambda lead: lead.sla_due_at)
    client.force_login(sdr)
    lead = waiting[-1]
    response = client.post(
        f"/queues/sales/{lead.pk}/",
        {"action": "accept", "expected_stage": "mql", "query": "page=2&q=ignored"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/queues/sales/?page=2"
    assert Lead.objects.get(pk=lead.pk).stage == "sal"
