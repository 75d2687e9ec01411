import os
import re
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from leads.models import Lead
from tests.e2e.conftest import log_in
from tests.factories import LeadFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

SHOTS = os.environ.get("LEADQUAL_SCREENSHOTS")


def shot(page, name):
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


def test_marketer_hands_off_sdr_accepts_qualifies_and_marketer_sees_the_sql(live_server, browser):
    UserFactory(username="maria", roles=["marketing"])
    UserFactory(username="sam", first_name="Sam", last_name="Reyes", roles=["sales"])
    explanation = {
        "mql": True,
        "mql_reason": "threshold",
        "fit": {"grade": "A", "score": 88, "criteria": []},
        "engagement": {
            "score": 64,
            "rules": [{"label": "Attended a webinar", "points": 10, "units": 1, "raw_points": 10}],
        },
    }
    lead = LeadFactory(
        stage="mql",
        first_name="Nora",
        last_name="Field",
        email="nora@fieldworks.io",
        score=76,
        fit_grade="A",
        engagement_score=64,
        score_explanation=explanation,
        stage_changed_at=timezone.now(),
    )
    LeadFactory(stage="mql", score=40)
    base = live_server.url

    marketer = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    log_in(marketer, base, "maria")
    marketer.get_by_role("link", name="MQL queue").click()
    expect(marketer.get_by_text("2 MQLs waiting")).to_be_visible()
    expect(marketer.get_by_role("row", name=re.compile("Nora Field"))).to_contain_text(
        "Attended a webinar (+10)"
    )
    shot(marketer, "1-mql-queue")
    marketer.get_by_label("Select nora@fieldworks.io").check()
    marketer.get_by_label("Hand off to").select_option("sam")
    marketer.get_by_role("button", name="Hand off selected").click()
    expect(marketer.get_by_text("Handed off 1 lead(s) to sam.")).to_be_visible()
    expect(marketer.get_by_text("1 MQL waiting")).to_be_visible()  # the table re-rendered in place

    sdr = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    log_in(sdr, base, "sam")
    sdr.get_by_role("link", name="My leads").click()
    row = sdr.get_by_role("row", name=re.compile("Nora Field"))
    expect(row).to_contain_text("business h left")
    shot(sdr, "2-sdr-inbox")
    sdr.get_by_role("button", name="Accept nora@fieldworks.io").click()
    expect(sdr.get_by_text("it is now your SAL")).to_be_visible()
    sdr.get_by_role("link", name="Start the BANT call").click()
    expect(sdr.get_by_role("heading", name=re.compile("BANT call: Nora Field"))).to_be_visible()
    sdr.get_by_label("Budget", exact=True).select_option("confirmed")
    sdr.get_by_label("Budget amount").fill("40000")
    sdr.get_by_label("Authority", exact=True).select_option("confirmed")
    sdr.get_by_label("Contact's role in the decision").select_option("decision_maker")
    expect(sdr.locator("#policy-check")).to_contain_text("Need is not confirmed")  # live policy check
    sdr.get_by_label("Need", exact=True).select_option("confirmed")
    sdr.get_by_label("The pain in their words").fill("Hot leads wait two days for a call")
    sdr.get_by_label("Timeline", exact=True).select_option("confirmed")
    sdr.get_by_label("When they want to buy").select_option("1_3_months")
    expect(sdr.locator("#policy-check")).to_contain_text("The policy is met")
    sdr.get_by_label("Qualify", exact=True).check()
    shot(sdr, "3-bant-call")
    sdr.get_by_role("button", name="Save review").click()
    expect(sdr.get_by_text("qualified to SQL")).to_be_visible()

    marketer.goto(f"{base}/leads/{lead.pk}/")
    expect(marketer.get_by_role("heading", name=re.compile("Nora Field"))).to_contain_text("SQL")
    reviews = marketer.get_by_role("table", name="BANT reviews")
    expect(reviews).to_contain_text("Hot leads wait two days")
    expect(reviews).to_contain_text("Qualify")
    expect(marketer.locator(".timeline")).to_contain_text("SAL → SQL")
    shot(marketer, "4-lead-page-sql")
    assert Lead.objects.get(pk=lead.pk).stage == "sql"
