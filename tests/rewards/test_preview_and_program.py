"""The preview agrees with the real earn, and the program page follows the configuration."""

import itertools
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from rewards.models import EarnRule, LedgerEntry, MemberTier, Milestone, Purchase, Tier
from tests.factories import MemberFactory

Kind = EarnRule.Kind
_orders = itertools.count(1)


@pytest.fixture
def configured(db, program):
    """A program with every purchase rule kind, caps and a tier multiplier."""
    gold = Tier.objects.create(name="Gold", rank=1, threshold=0, earn_multiplier=Decimal("1.3"))
    EarnRule.objects.create(
        name="Coffee", kind=Kind.CATEGORY_MULTIPLIER, multiplier=Decimal("2.5"), targets="coffee"
    )
    EarnRule.objects.create(
        name="Beans", kind=Kind.SKU_MULTIPLIER, multiplier=Decimal(3), targets="B1", cap_per_day=40
    )
    EarnRule.objects.create(name="Promo", kind=Kind.CAMPAIGN_MULTIPLIER, multiplier=Decimal("1.1"))
    EarnRule.objects.create(
        name="Basket", kind=Kind.MIN_SPEND_BONUS, bonus_points=15, min_amount=Decimal(25)
    )
    EarnRule.objects.create(
        name="Welcome", kind=Kind.FIRST_PURCHASE_BONUS, bonus_points=20, cap_total=20
    )
    return gold


line = st.tuples(
    st.sampled_from(["B1", "B2", ""]),
    st.sampled_from(["coffee", "tea", ""]),
    st.decimals(min_value=Decimal("0.001"), max_value=Decimal(5), places=3),
    st.decimals(min_value=Decimal(0), max_value=Decimal(40), places=2),
)
basket = st.tuples(
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal(300), places=2),
    st.lists(line, max_size=5),
)


@pytest.mark.django_db
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(baskets=st.lists(basket, min_size=1, max_size=4), in_gold=st.booleans())
def test_preview_equals_the_real_earn_on_random_baskets(configured, shop_client, baskets, in_gold):
    member = MemberFactory()
    if in_gold:
        MemberTier.objects.create(member=member, tier=configured)
    for amount, lines in baskets:
        body = {
            "member": member.external_id,
            "order_id": f"P-{next(_orders)}",
            "amount": str(amount),
            "currency": "EUR",
            "lines": [
                {"sku": sku, "category": cat, "quantity": str(qty), "unit_price": str(price)}
                for sku, cat, qty, price in lines
            ],
        }
        entries_before = LedgerEntry.objects.count()
        preview = shop_client.post("/api/v1/purchases/preview", body, format="json")
        assert preview.status_code == 200, preview.json()
        assert LedgerEntry.objects.count() == entries_before  # the preview wrote nothing
        earned = shop_client.post("/api/v1/purchases", body, format="json")
        assert earned.status_code == 201, earned.json()
        assert preview.json()["items"] == earned.json()["items"]
        assert preview.json()["points_earned"] == earned.json()["points_earned"]


@pytest.mark.django_db
def test_preview_writes_nothing_and_reports_the_tier(configured, shop_client, member):
    MemberTier.objects.create(member=member, tier=configured)
    body = {"member": member.external_id, "order_id": "X", "amount": "10", "currency": "EUR"}
    response = shop_client.post("/api/v1/purchases/preview", body, format="json")
    assert response.status_code == 200
    assert response.json()["tier"] == "Gold"
    assert response.json()["points_earned"] == 10 + 1 + 3 + 20  # base, promo, tier, welcome
    assert not Purchase.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"member": "nobody", "amount": "10", "currency": "EUR"}, 404, "member_not_found"),
        ({"amount": "10", "currency": "EUR"}, 400, "validation_error"),
        ({"member": "{member}", "amount": "-1", "currency": "EUR"}, 400, "validation_error"),
        ({"member": "{member}", "amount": "10", "currency": "USD"}, 422, "currency_not_accepted"),
    ],
)
def test_preview_refuses_bad_input_like_a_purchase(shop_client, member, body, status, code):
    body = {k: v.format(member=member.external_id) for k, v in body.items()}
    response = shop_client.post(
        "/api/v1/purchases/preview", {"order_id": "X", **body}, format="json"
    )
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


@pytest.mark.django_db
def test_preview_needs_a_shop_key(member):
    body = {"member": member.external_id, "order_id": "X", "amount": "10", "currency": "EUR"}
    assert APIClient().post("/api/v1/purchases/preview", body, format="json").status_code == 401


@pytest.mark.django_db
def test_program_page_is_public_and_reflects_a_rule_change_at_once(program):
    client = APIClient()
    first = client.get("/api/v1/program")
    assert first.status_code == 200
    assert first.json()["earning"]["text"] == [
        "You earn 1 point for every €1.00 you spend, rounded down to whole points once per "
        "purchase."
    ]
    rule = EarnRule.objects.create(
        name="Coffee",
        kind=Kind.CATEGORY_MULTIPLIER,
        multiplier=Decimal(2),
        targets="coffee, tea",
        cap_per_day=50,
    )
    text = client.get("/api/v1/program").json()["earning"]["text"]
    assert text[1] == "×2 points on coffee and tea (up to 50 points a day)."

    rule.multiplier = Decimal(3)
    rule.save()
    assert client.get("/api/v1/program").json()["earning"]["text"][1].startswith("×3 points")
    rule.is_active = False
    rule.save()
    assert len(client.get("/api/v1/program").json()["earning"]["text"]) == 1


@pytest.mark.django_db
def test_program_page_explains_tiers_expiry_milestones_and_redeeming(program):
    program.expiry_months = 6
    program.pending_days = 14
    program.save()
    Tier.objects.create(name="Member", rank=1, threshold=0)
    Tier.objects.create(name="Gold", rank=2, threshold=1000, earn_multiplier=2, benefits="Lounge")
    Milestone.objects.create(name="Tenth", kind="purchases", target=10, bonus_points=100)
    body = APIClient().get("/api/v1/program").json()
    assert [level["text"] for level in body["tiers"]["levels"]] == [
        "Member: everyone starts here.",
        "Gold: 1,000 points earned in 12 months; ×2 base points.",
    ]
    assert body["tiers"]["levels"][1]["benefits"] == ["Lounge"]
    assert "your balance does not count" in body["tiers"]["text"]
    assert body["expiry"]["text"] == [
        "Points expire 6 months after you earn them, at the end of that month. The points "
        "that expire soonest are spent first.",
        "Points from a purchase can be spent 14 days after it.",
    ]
    assert body["milestones"][0]["text"] == "Tenth: make 10 purchases and get 100 bonus points."
    assert body["redeeming"]["text"][0] == "Each point is worth €0.01 off a purchase."
