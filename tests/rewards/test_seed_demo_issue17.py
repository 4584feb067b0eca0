"""The demo program excludes its gift card from earning (issue 17)."""

import pytest

from rewards.models import Purchase
from rewards.selectors import program_get
from tests.rewards.test_seed_demo import seed_demo

pytestmark = pytest.mark.django_db


def test_the_demo_gift_card_earns_no_points():
    seed_demo()
    assert program_get().excluded_sku_list == ["GIFT-CARD"]
    gift_cards = Purchase.objects.filter(lines__sku="GIFT-CARD")
    assert gift_cards.exists()
    for purchase in gift_cards:
        assert purchase.not_earning_amount == purchase.amount
    # A gift card earns no base points: at most a first-purchase bonus, never its amount.
    assert all(purchase.points_earned in (0, 20) for purchase in gift_cards)
    assert Purchase.objects.exclude(lines__sku="GIFT-CARD").filter(points_earned__gt=0).exists()
