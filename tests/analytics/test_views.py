import re

import pytest

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

JUNE = "?start=2026-06-01&end=2026-06-30"


@pytest.mark.parametrize("role", ["marketing", "sales", "admin"])
def test_page_renders_charts_for_each_role(client, history, role):
    client.force_login(UserFactory(roles=[role]))
    response = client.get(f"/analytics/{JUNE}")
    assert response.status_code == 200
    html = response.content.decode()
    # Funnel, 5 conversions, time in stage, SLA, 2 reasons, calibration rate + counts.
    assert html.count("<svg") == 12
    assert '<a href="/analytics/">Analytics</a>' in html
    # No chart script at all, and the only script the page loads is served by the app itself.
    assert [
        src for src in re.findall(r'<script[^>]*src="([^"]*)"', html) if not src.startswith("/static/")
    ] == []
    assert html.count("<script") == 1
    # The numbers, with links to the leads behind them.
    assert html.count("<details>") == 11  # calibration's two charts share one table
    assert "figure=funnel&amp;key=sql&amp;start=2026-06-01&amp;end=2026-06-30" in html
    assert "/analytics/leads/?figure=sla&amp;key=ann%3Aoverdue" in html
    assert 'xlink:href="/analytics/leads/?figure=source&amp;key=paid' in html
    assert "Cohort</strong> = leads that became an MQL between the dates" in html


def test_page_shows_the_figures_numbers(client, history, marketer):
    client.force_login(marketer)
    html = client.get(f"/analytics/{JUNE}").content.decode()
    assert re.search(r"<span class=\"n\">5</span> MQLs in the cohort", html)
    assert re.search(r"<span class=\"n\">2</span> reached SQL \(40% of MQLs\)", html)
    assert "33.3%" in html and "268.8" in html  # ann's compliance, p90 hours SAL -> SQL


def test_user_without_a_role_gets_403(client, db):
    client.force_login(UserFactory())
    assert client.get("/analytics/").status_code == 403
    assert client.get("/analytics/leads/?figure=funnel&key=mql").status_code == 403


def test_anonymous_is_sent_to_log_in(client, db):
    for url in ("/analytics/", "/analytics/leads/?figure=funnel&key=mql"):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith("/accounts/login/")


def test_defaults_to_the_last_90_days(client, history, marketer):
    client.force_login(marketer)
    html = client.get("/analytics/").content.decode()
    # Now is 15 July 2026: 17 April – 15 July; June's cohort of 5, L5 (20 May) and L6 (2 July).
    assert 'value="2026-04-17"' in html and 'value="2026-07-15"' in html
    assert re.search(r"<span class=\"n\">7</span> MQLs in the cohort", html)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?start=2026-13-45&end=2026-06-30", "Enter a valid date."),
        ("?start=2026-06-30&end=2026-06-01", "The end date must be on or after the start date."),
        ("?start=2020-01-01&end=2026-06-30", "Choose a range of at most 3 years."),
        ("?source=no-such-source", "Select a valid choice."),
    ],
)
def test_bad_filters_show_an_error_and_the_defaults(client, history, marketer, query, message):
    client.force_login(marketer)
    response = client.get(f"/analytics/{query}")
    assert response.status_code == 200
    html = response.content.decode()
    assert message in html
    assert "the defaults are shown" in html
    assert html.count("<svg") == 12
    assert re.search(r"<span class=\"n\">7</span> MQLs in the cohort", html)  # the last 90 days


def test_three_years_exactly_is_allowed(client, history, marketer):
    client.force_login(marketer)
    html = client.get("/analytics/?start=2023-06-30&end=2026-06-30").content.decode()
    assert "errorlist" not in html and "the defaults are shown" not in html


def test_source_filter_is_applied_and_kept_in_links(client, history, marketer):
    client.force_login(marketer)
    html = client.get(f"/analytics/{JUNE}&source=paid").content.decode()
    assert re.search(r"<span class=\"n\">2</span> MQLs in the cohort", html)
    assert "&amp;source=paid" in html
    assert '<option value="paid" selected>' in html


def test_page_runs_a_fixed_number_of_queries(client, history, marketer, django_assert_max_num_queries):
    client.force_login(marketer)
    client.get("/")  # warm the session
    # Cold (nothing cached): session, user, roles; the source list; the transaction (savepoint,
    # settings, release); one query for the funnel and the five conversions, one each for the
    # other five figures.
    with django_assert_max_num_queries(13):
        response = client.get(f"/analytics/{JUNE}")
    assert response.status_code == 200
    # Warm: the figures and the source list come from the cache; only session, user and roles.
    with django_assert_max_num_queries(3):
        response = client.get(f"/analytics/{JUNE}")
    assert response.status_code == 200
    assert "33.3%" in response.content.decode()


def test_drill_down_page_lists_the_leads_with_links(client, history, sdr, django_assert_max_num_queries):
    client.force_login(sdr)
    # Session, user, roles; savepoint, settings, release; the page with its total, its leads.
    with django_assert_max_num_queries(8):
        response = client.get(f"/analytics/leads/{JUNE}&figure=source&key=paid&converted=1")
    assert response.status_code == 200
    html = response.content.decode()
    assert "MQLs of the range with source paid that reached SQL" in html
    assert "<strong>2</strong> rows, showing 1–2" in html
    lead_ids = {history.leads["L1"].pk, history.leads["L2"].pk}
    assert {int(i) for i in re.findall(r'href="/leads/(\d+)/"', html)} == lead_ids
    assert 'href="/analytics/?start=2026-06-01&amp;end=2026-06-30"' in html


def test_drill_down_for_an_unknown_figure_is_404(client, history, marketer):
    client.force_login(marketer)
    assert client.get(f"/analytics/leads/{JUNE}&figure=nope&key=x").status_code == 404
    assert client.get(f"/analytics/leads/{JUNE}&figure=calibration&key=12").status_code == 404


def test_drill_down_with_bad_dates_uses_the_defaults(client, history, marketer):
    client.force_login(marketer)
    response = client.get("/analytics/leads/?figure=funnel&key=mql&start=junk")
    assert response.status_code == 200
    assert "could not be used" in response.content.decode()
    assert "<strong>7</strong> rows" in response.content.decode()
