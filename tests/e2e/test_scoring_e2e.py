import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from leads import services as lead_services
from scoring.models import RescoreJob, ScoringModel
from tests.e2e.conftest import log_in
from tests.factories import UserFactory
from tests.worker import running_worker

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_marketer_tunes_a_draft_backtests_it_and_activates_it_with_visible_progress(
    live_server, browser_page
):
    UserFactory(username="mia", roles=["marketing"])
    for i in range(12):
        lead_id = lead_services.lead_upsert(
            data={
                "email": f"vp{i}@bigsoft{i}.io",
                "job_title": "VP Engineering",
                "country": "US",
                "company": {"industry": "software", "employee_count": 500, "annual_revenue": 50_000_000},
            }
        ).lead_id
        lead_services.interactions_record(
            items=[{"lead_id": lead_id, "type": "webinar_attendance", "occurred_at": timezone.now()}]
        )
    page, base = browser_page, live_server.url
    with running_worker():
        log_in(page, base, "mia")
        page.get_by_role("link", name="Scoring").click()
        expect(page.get_by_role("heading", name=re.compile("Active: Default model"))).to_be_visible()
        page.get_by_role("button", name="New draft from the active model").click()
        page.get_by_label("MQL engagement threshold").fill("5")
        page.get_by_role("button", name="Save draft").click()
        expect(page.get_by_text("Draft saved.")).to_be_visible()
        page.get_by_role("button", name="Run backtest").click()
        table = page.get_by_role("table", name="Backtest results")
        expect(table.get_by_role("row", name=re.compile("Would be MQL"))).to_contain_text("12")
        expect(page.get_by_role("heading", name="Moving in (12)")).to_be_visible()
        page.get_by_role("button", name="Activate v2").click()
        expect(page.get_by_role("heading", name="Rescoring every lead with v2")).to_be_visible()
        # The page refreshes itself while the real worker runs the job.
        expect(page.get_by_text("Status: Done")).to_be_visible(timeout=30_000)
        expect(page.locator("progress")).to_have_attribute("value", "100")
    job = RescoreJob.objects.get()
    assert (job.status, job.done, job.promoted) == ("done", 12, 12)
    assert ScoringModel.objects.get(status="active").version == 2
