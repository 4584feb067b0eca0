"""The support agent's member page and its actions, through the admin."""

from datetime import timedelta

import pytest
from django.utils import timezone

from members.models import Member
from rewards.models import LedgerEntry, MemberTier, StaffAdjustmentLimit, Tier
from rewards.services.adjustments import points_adjust
from tests.conftest import earn
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def page_of(member) -> str:
    return f"/admin/members/member/{member.pk}/change/"


def test_the_member_page_shows_balance_lots_ledger_and_history(support_client, shop, member):
    earn(shop, member, "30.00", order_id="A-1")
    points_adjust(member=member, points=-5, reason="Damaged voucher")
    page = support_client.get(page_of(member))
    assert page.status_code == 200
    html = page.content.decode()
    for section in ("balance", "lots", "ledger", "tier-history", "purchases", "redemptions"):
        assert f'id="{section}"' in html
    assert 'id="milestones"' in html and 'id="feedback"' in html
    assert 'id="points-available">25<' in html
    assert "Damaged voucher" in html and "order:A-1" in html
    # Newest first: the adjustment comes before the earn entry.
    assert html.index("Damaged voucher") < html.index("order:A-1")


def test_the_member_ledger_is_paginated_newest_first(support_client, member):
    for n in range(25):
        points_adjust(member=member, points=1, reason=f"Adjustment number {n:02d}")
    first = support_client.get(page_of(member)).content.decode()
    assert "Adjustment number 24" in first and "Adjustment number 04" not in first
    assert "page 1 of 2" in first
    second = support_client.get(page_of(member) + "?ledger_page=2").content.decode()
    assert "Adjustment number 04" in second and "Adjustment number 24" not in second


def test_support_finds_members_by_external_id_email_or_name(support_client, program):
    MemberFactory(external_id="cust-42", email="ann@example.com", name="Ann Smith")
    MemberFactory(external_id="cust-43", email="bob@example.com", name="Bob Jones")
    for term in ("cust-42", "ann@example", "Smith"):
        html = support_client.get("/admin/members/member/", {"q": term}).content.decode()
        assert "cust-42" in html and "cust-43" not in html, term


def test_members_are_filtered_by_tier_status_and_last_purchase(support_client, shop, program):
    gold = Tier.objects.create(name="Gold", rank=2, threshold=100)
    recent, old, never = MemberFactory(), MemberFactory(), MemberFactory()
    earn(shop, recent, "5.00")
    earn(shop, old, "5.00", occurred_at=timezone.now() - timedelta(days=400))
    MemberTier.objects.create(member=never, tier=gold)
    never.status = Member.Status.SUSPENDED
    never.save()

    def listed(**params) -> set[str]:
        response = support_client.get("/admin/members/member/", params)
        assert response.status_code == 200
        return {m.external_id for m in response.context["cl"].result_list}

    assert listed(last_purchase="30") == {recent.external_id}
    assert listed(last_purchase="older") == {old.external_id}
    assert listed(last_purchase="never") == {never.external_id}
    assert listed(tier=gold.pk) == {never.external_id}
    assert listed(status__exact="suspended") == {never.external_id}


def test_support_adjusts_points_with_a_reason_and_sees_the_entry(
    support_client, support_agent, member
):
    url = f"/admin/members/member/{member.pk}/adjust/"
    refused = support_client.post(url, {"points": "40", "reason": "   "})
    assert refused.status_code == 200 and not LedgerEntry.objects.exists()
    response = support_client.post(url, {"points": "40", "reason": "Missing points, order 7"})
    assert response.status_code == 302
    entry = LedgerEntry.objects.get()
    assert (entry.kind, entry.points, entry.actor_user) == ("adjust", 40, support_agent)
    assert "Missing points, order 7" in support_client.get(page_of(member)).content.decode()


def test_an_adjustment_over_the_agents_limit_is_refused_in_plain_words(
    support_client, support_agent, member
):
    StaffAdjustmentLimit.objects.create(user=support_agent, max_points_per_adjustment=100)
    page = support_client.post(
        f"/admin/members/member/{member.pk}/adjust/", {"points": "500", "reason": "Goodwill"}
    )
    assert page.status_code == 200
    assert "at most 100 points at a time" in page.content.decode()
    assert not LedgerEntry.objects.exists()


def test_removing_more_points_than_available_is_refused_in_plain_words(support_client, member):
    page = support_client.post(
        f"/admin/members/member/{member.pk}/adjust/", {"points": "-5", "reason": "Correction"}
    )
    assert "does not have enough available points" in page.content.decode()


def test_support_suspends_and_reactivates_a_member_with_a_reason(support_client, member):
    suspend = support_client.post(
        f"/admin/members/member/{member.pk}/suspend/", {"reason": "Fraud check"}
    )
    assert suspend.status_code == 302
    assert Member.objects.get().status == Member.Status.SUSPENDED
    support_client.post(f"/admin/members/member/{member.pk}/reactivate/", {"reason": "Cleared"})
    assert Member.objects.get().status == Member.Status.ACTIVE
    reasons = list(Member.history.values_list("history_change_reason", flat=True))
    assert reasons[:2] == ["Reactivated: Cleared", "Suspended: Fraud check"]


def test_erasing_needs_the_external_id_typed_and_leaves_a_read_only_page(support_client, member):
    # An earlier edit in the admin names the member in its action log.
    support_client.post(page_of(member), {"name": "Ann", "email": member.email, "birth_date": ""})
    url = f"/admin/members/member/{member.pk}/erase/"
    wrong = support_client.post(url, {"confirm_external_id": "nope", "reason": "GDPR request"})
    assert wrong.status_code == 200 and Member.objects.get().status == Member.Status.ACTIVE
    support_client.post(url, {"confirm_external_id": member.external_id, "reason": "GDPR"})
    erased = Member.objects.get()
    assert erased.status == Member.Status.ERASED and erased.email == ""
    page = support_client.get(page_of(erased)).content.decode()
    assert 'name="email"' not in page  # nothing left to edit
    assert member.external_id not in page
    assert "Adjust points" not in page and "Erase personal data" not in page
    history = support_client.get(page_of(erased).replace("change/", "history/")).content.decode()
    assert member.external_id not in history and "Ann" not in history
    from django.contrib.admin.models import LogEntry

    assert set(LogEntry.objects.values_list("object_repr", flat=True)) == {erased.external_id}


def test_the_member_page_offers_only_the_actions_the_status_allows(support_client, member):
    html = support_client.get(page_of(member)).content.decode()
    assert "Suspend" in html and "Reactivate" not in html
    member.status = Member.Status.SUSPENDED
    member.save()
    html = support_client.get(page_of(member)).content.decode()
    assert "Reactivate" in html and ">Suspend<" not in html


def test_balances_and_status_cannot_be_edited_in_the_member_form(support_client, member):
    response = support_client.post(
        page_of(member),
        {
            "name": "New Name",
            "email": "new@example.com",
            "birth_date": "",
            "points_available": "9999",
            "status": "erased",
        },
    )
    assert response.status_code == 302
    member.refresh_from_db()
    assert (member.name, member.points_available, member.status) == ("New Name", 0, "active")


def test_a_read_only_figure_another_app_adds_to_the_member_page_is_shown(rf, support_agent, member):
    from django.contrib import admin

    from rewards.admin_members import MemberAdmin

    class WithFigure(MemberAdmin):
        readonly_fields = (*MemberAdmin.readonly_fields, "figure")

        def figure(self, obj):
            return 42

    request = rf.get("/")
    request.user = support_agent
    fieldsets = WithFigure(Member, admin.site).get_fieldsets(request, member)
    assert fieldsets[-1] == ("More", {"fields": ["figure"]})
