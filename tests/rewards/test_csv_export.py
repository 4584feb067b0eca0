"""CSV export of members (with balances and tier) and of the ledger, streamed."""

import csv
import io

import pytest

from rewards.models import MemberTier, Tier
from rewards.services.adjustments import points_adjust
from tests.conftest import earn
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def rows_of(response) -> list[dict]:
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/csv"
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_members_export_with_balances_and_tier(support_client, shop, member):
    gold = Tier.objects.create(name="Gold", rank=1)
    MemberTier.objects.create(member=member, tier=gold)
    earn(shop, member, "42.00")
    rows = rows_of(support_client.get("/admin/members/member/export/"))
    assert len(rows) == 1
    row = rows[0]
    assert (row["external_id"], row["tier"], row["points_available"]) == (
        member.external_id,
        "Gold",
        "42",
    )
    assert {"points_pending", "points_held", "points_owed", "lifetime_earned"} <= set(row)


def test_the_members_export_follows_the_lists_search(support_client, program):
    MemberFactory(external_id="keep-1")
    MemberFactory(external_id="other-2")
    rows = rows_of(support_client.get("/admin/members/member/export/", {"q": "keep"}))
    assert [row["external_id"] for row in rows] == ["keep-1"]


def test_the_ledger_export_lists_entries_with_reason_reference_and_actor(
    support_client, support_agent, shop, member
):
    earn(shop, member, "10.00", order_id="A-7")
    points_adjust(member=member, points=3, reason="Goodwill", staff_user=support_agent)
    rows = rows_of(support_client.get("/admin/rewards/ledgerentry/export/"))
    assert [(r["kind"], r["points"], r["reference"], r["actor"]) for r in rows] == [
        ("earn", "10", "order:A-7", f"shop:{shop.name}"),
        ("adjust", "3", "adjustment", "staff:support"),
    ]
    assert rows[1]["reason"] == "Goodwill"


def test_the_ledger_export_of_one_member(support_client, shop, member):
    other = MemberFactory()
    earn(shop, member, "10.00")
    earn(shop, other, "20.00")
    rows = rows_of(
        support_client.get("/admin/rewards/ledgerentry/export/", {"member__id__exact": other.pk})
    )
    assert [row["member_external_id"] for row in rows] == [other.external_id]


def test_text_that_a_spreadsheet_would_run_as_a_formula_is_quoted(support_client, program):
    MemberFactory(name='=HYPERLINK("http://x")')
    rows = rows_of(support_client.get("/admin/members/member/export/"))
    assert rows[0]["name"].startswith("'=")
