from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from handoff import services
from handoff.models import Assignment, QualificationReview, SalesTeam, SdrProfile, StageChange
from leads.models import Lead
from tests.factories import LeadFactory, UserFactory

pytestmark = pytest.mark.django_db

GOOD_BANT = {
    "budget_status": "confirmed",
    "authority_status": "confirmed",
    "authority_role": "decision_maker",
    "need_status": "confirmed",
    "need_pain": "manual lead routing",
    "timeline_status": "confirmed",
    "timeline_timeframe": "1_3_months",
    "outcome": "qualify",
}


@pytest.fixture
def mql():
    return LeadFactory(stage="mql", score=70)


def hand_off(lead, marketer, owner):
    return services.lead_transition(
        lead_id=lead.pk, action="handoff", actor=marketer, expected_stage="mql", owner=owner.username
    )


def test_handoff_assigns_the_sdr_starts_the_sla_and_records_it(mql, marketer, sdr, time_machine):
    time_machine.move_to("2026-12-01T10:00:00Z", tick=False)  # a Tuesday
    result = hand_off(mql, marketer, sdr)
    lead = Lead.objects.get(pk=mql.pk)
    assert (lead.stage, lead.owner, lead.handed_off_at is not None) == ("mql", sdr, True)
    assert lead.sla_due_at.isoformat() == "2026-12-01T14:00:00+00:00"  # 4 business hours
    assignment = Assignment.objects.get(lead=lead)
    assert (assignment.owner, assignment.status, assignment.assigned_by) == (sdr, "open", marketer)
    assert (result.change.action, result.change.actor, result.change.owner) == ("handoff", marketer, sdr)


def test_owner_accepts_and_the_clock_stops(mql, marketer, sdr):
    hand_off(mql, marketer, sdr)
    services.lead_transition(lead_id=mql.pk, action="accept", actor=sdr, expected_stage="mql")
    lead = Lead.objects.get(pk=mql.pk)
    assert (lead.stage, lead.sla_due_at) == ("sal", None)
    assert Assignment.objects.get(lead=lead).status == "accepted"


def test_another_sdr_may_not_accept(mql, marketer, sdr):
    hand_off(mql, marketer, sdr)
    other = UserFactory(roles=["sales"])
    with pytest.raises(services.TransitionRefused) as refused:
        services.lead_transition(lead_id=mql.pk, action="accept", actor=other, expected_stage="mql")
    assert refused.value.status == 403


def test_stale_action_is_a_409_naming_who_moved_it(mql, marketer, sdr):
    sdr.first_name, sdr.last_name = "Ana", "Ruiz"
    sdr.save()
    hand_off(mql, marketer, sdr)
    services.lead_transition(lead_id=mql.pk, action="accept", actor=sdr, expected_stage="mql")
    with pytest.raises(services.TransitionRefused) as refused:
        services.lead_transition(
            lead_id=mql.pk, action="reject", actor=sdr, expected_stage="mql", reason="no_interest"
        )
    assert refused.value.status == 409
    assert "accepted by Ana Ruiz at" in refused.value.message


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_twenty_concurrent_accepts_make_one_transition(marketer, sdr):
    lead = LeadFactory(stage="mql")
    hand_off(lead, marketer, sdr)

    def accept(_):
        try:
            services.lead_transition(lead_id=lead.pk, action="accept", actor=sdr, expected_stage="mql")
            return 200
        except services.TransitionRefused as exc:
            return exc.status
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=20) as pool:
        codes = list(pool.map(accept, range(20)))
    assert sorted(codes) == [200] + [409] * 19
    assert StageChange.objects.filter(lead=lead, action="accept").count() == 1


def test_reject_needs_a_reason_code_and_sends_the_lead_to_nurture(mql, marketer, sdr):
    hand_off(mql, marketer, sdr)
    with pytest.raises(services.TransitionRefused) as refused:
        services.lead_transition(lead_id=mql.pk, action="reject", actor=sdr, expected_stage="mql")
    assert (refused.value.status, refused.value.field) == (400, "reason")
    services.lead_transition(
        lead_id=mql.pk, action="reject", actor=sdr, expected_stage="mql", reason="bad_contact_data"
    )
    lead = Lead.objects.get(pk=mql.pk)
    assert (lead.stage, lead.owner, lead.handed_off_at) == ("recycled", None, None)
    assert lead.nurture_until == timezone.now().date() + timedelta(days=30)  # not straight back to MQL
    assert StageChange.objects.filter(lead=lead, action="reject", reason="bad_contact_data").exists()


def test_recycle_needs_a_future_nurture_date(mql, marketer, sdr):
    hand_off(mql, marketer, sdr)
    services.lead_transition(lead_id=mql.pk, action="accept", actor=sdr, expected_stage="mql")
    with pytest.raises(services.TransitionRefused) as refused:
        services.lead_transition(
            lead_id=mql.pk, action="recycle", actor=sdr, expected_stage="sal", reason="bad_timing"
        )
    assert refused.value.field == "nurture_until"
    until = timezone.now().date() + timedelta(days=60)
    services.lead_transition(
        lead_id=mql.pk,
        action="recycle",
        actor=sdr,
        expected_stage="sal",
        reason="bad_timing",
        nurture_until=until,
    )
    assert Lead.objects.get(pk=mql.pk).nurture_until == until


def accepted(mql, marketer, sdr):
    hand_off(mql, marketer, sdr)
    services.lead_transition(lead_id=mql.pk, action="accept", actor=sdr, expected_stage="mql")


def test_qualify_with_a_bant_review_that_meets_the_policy_makes_an_sql(mql, marketer, sdr):
    accepted(mql, marketer, sdr)
    review, transition = services.qualification_record(
        lead_id=mql.pk, actor=sdr, review=GOOD_BANT, expected_stage="sal"
    )
    assert transition.lead.stage == "sql"
    assert review.policy_met is True
    assert StageChange.objects.filter(lead=mql, action="qualify").exists()


def test_qualify_is_refused_with_the_missing_criteria_and_nothing_is_saved(mql, marketer, sdr):
    accepted(mql, marketer, sdr)
    weak = {**GOOD_BANT, "need_status": "unknown", "timeline_timeframe": "over_12_months"}
    with pytest.raises(services.TransitionRefused) as refused:
        services.qualification_record(lead_id=mql.pk, actor=sdr, review=weak, expected_stage="sal")
    assert refused.value.field == "bant"
    assert "Need is not confirmed" in refused.value.message
    assert "over 6 months" in refused.value.message
    assert not QualificationReview.objects.exists()
    assert Lead.objects.get(pk=mql.pk).stage == "sal"


def test_a_pending_review_is_kept_and_several_reviews_accumulate(mql, marketer, sdr):
    accepted(mql, marketer, sdr)
    services.qualification_record(
        lead_id=mql.pk,
        actor=sdr,
        review={**GOOD_BANT, "outcome": "pending", "need_status": "unknown"},
        expected_stage="sal",
    )
    services.qualification_record(lead_id=mql.pk, actor=sdr, review=GOOD_BANT, expected_stage="sal")
    reviews = QualificationReview.objects.filter(lead=mql).order_by("created_at")
    assert [r.outcome for r in reviews] == ["pending", "qualify"]
    assert reviews[0].policy_met is False


def test_marketing_disqualifies_with_a_reason_and_reopens_with_a_note(mql, marketer):
    services.lead_transition(
        lead_id=mql.pk, action="disqualify", actor=marketer, expected_stage="mql", reason="competitor"
    )
    assert Lead.objects.get(pk=mql.pk).stage == "disqualified"
    with pytest.raises(services.TransitionRefused):
        services.lead_transition(
            lead_id=mql.pk, action="reopen", actor=marketer, expected_stage="disqualified"
        )
    services.lead_transition(
        lead_id=mql.pk, action="reopen", actor=marketer, expected_stage="disqualified", note="was a partner"
    )
    assert Lead.objects.get(pk=mql.pk).stage == "lead"


def test_routing_picks_an_available_sdr_and_records_it(mql, marketer):
    away = UserFactory(roles=["sales"])
    SdrProfile.objects.create(user=away, out_of_office_until=timezone.now().date() + timedelta(days=3))
    here = UserFactory(roles=["sales"])
    SdrProfile.objects.create(user=here)
    result = services.lead_transition(lead_id=mql.pk, action="handoff", actor=marketer, expected_stage="mql")
    assert result.lead.owner == here
    assert result.change.details["routed"] is True
    assert Assignment.objects.get(lead=mql).routed is True


def test_bulk_handoff_spreads_leads_by_weight(marketer):
    a, b = UserFactory(roles=["sales"]), UserFactory(roles=["sales"])
    SdrProfile.objects.create(user=a, weight=1)
    SdrProfile.objects.create(user=b, weight=3)
    leads = LeadFactory.create_batch(8, stage="mql")
    results = services.leads_transition_bulk(
        lead_ids=[lead.pk for lead in leads], action="handoff", actor=marketer, expected_stage="mql"
    )
    assert all(r.ok for r in results)
    owners = [r.owner for r in results]
    assert (owners.count(a.username), owners.count(b.username)) == (2, 6)


def test_routing_refuses_clearly_when_nobody_can_take_the_lead(mql, marketer):
    full = UserFactory(roles=["sales"])
    SdrProfile.objects.create(user=full, capacity=0)
    with pytest.raises(services.TransitionRefused) as refused:
        services.lead_transition(lead_id=mql.pk, action="handoff", actor=marketer, expected_stage="mql")
    assert (refused.value.status, refused.value.field) == (400, "owner")


def test_overdue_handoff_is_escalated_to_the_manager_and_reassigned(mql, marketer, sdr, time_machine):
    manager = UserFactory(email="boss@leadqual.test", roles=["sales"])
    team = SalesTeam.objects.create(
        name="EMEA",
        accept_within_hours=2,
        escalate_after_hours=4,
        manager=manager,
        reassign_on_escalation=True,
    )
    SdrProfile.objects.create(user=sdr, team=team)
    backup = UserFactory(roles=["sales"])
    SdrProfile.objects.create(user=backup, team=team)
    SdrProfile.objects.create(user=manager, is_active=False)
    time_machine.move_to("2026-12-01T09:00:00Z", tick=False)
    hand_off(mql, marketer, sdr)
    time_machine.move_to("2026-12-01T12:00:00Z", tick=False)
    assert services.sla_escalate_overdue() == {"escalated": 0, "reassigned": 0}
    time_machine.move_to("2026-12-01T13:01:00Z", tick=False)
    result = services.sla_escalate_overdue()
    assert result == {"escalated": 1, "reassigned": 1}
    assert StageChange.objects.filter(lead=mql, action="escalate").exists()
    assert Lead.objects.get(pk=mql.pk).owner == backup
    assert services.sla_escalate_overdue() == {"escalated": 0, "reassigned": 0}


def test_escalation_mails_the_manager(mql, marketer, sdr, time_machine, django_capture_on_commit_callbacks):
    manager = UserFactory(email="boss@leadqual.test")
    team = SalesTeam.objects.create(name="US", escalate_after_hours=1, manager=manager)
    SdrProfile.objects.create(user=sdr, team=team)
    time_machine.move_to("2026-12-01T09:00:00Z", tick=False)
    hand_off(mql, marketer, sdr)
    time_machine.move_to("2026-12-01T10:30:00Z", tick=False)
    with django_capture_on_commit_callbacks(execute=True):
        services.sla_escalate_overdue()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["boss@leadqual.test"]
    assert mql.email in mail.outbox[0].subject


def test_integrations_may_convert_and_win_but_not_hand_off(mql, api_key):
    from leads.api.auth import IntegrationPrincipal

    principal = IntegrationPrincipal(api_key)
    with pytest.raises(services.TransitionRefused) as refused:
        services.lead_transition(
            lead_id=mql.pk, action="handoff", actor=principal, expected_stage="mql", owner=None
        )
    assert refused.value.status in (400, 403)
    Lead.objects.filter(pk=mql.pk).update(stage="sql")
    services.lead_transition(lead_id=mql.pk, action="convert", actor=principal, expected_stage="sql")
    services.lead_transition(lead_id=mql.pk, action="win", actor=principal, expected_stage="opportunity")
    assert Lead.objects.get(pk=mql.pk).stage == "customer"
    assert StageChange.objects.filter(lead=mql, action="win").get().actor_label == "api:test-integration"
