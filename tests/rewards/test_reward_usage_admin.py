"""A reward in the admin shows how many members used it and how many points it took."""

import pytest

from rewards.models import Reward
from rewards.services.adjustments import points_adjust
from rewards.services.redemptions import reward_redeem
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_the_reward_list_shows_vouchers_members_and_points_spent(manager_client, shop):
    coffee = Reward.objects.create(name="Free coffee", points_cost=40)
    Reward.objects.create(name="Unused mug", points_cost=90)
    first, second = MemberFactory(), MemberFactory()
    for member, times in ((first, 2), (second, 1)):
        points_adjust(member=member, points=200, reason="Demo points")
        for n in range(times):
            reward_redeem(
                shop=shop,
                member_external_id=member.external_id,
                reward_id=coffee.pk,
                idempotency_key=f"{member.pk}-{n}",
                request_hash=f"{member.pk}-{n}",
            )
    page = manager_client.get("/admin/rewards/reward/")
    rows = {reward.name: reward for reward in page.context["cl"].result_list}
    used = rows["Free coffee"]
    assert (used.vouchers_issued, used.members_used, used.points_spent) == (3, 2, 120)
    unused = rows["Unused mug"]
    assert (unused.vouchers_issued, unused.members_used, unused.points_spent) == (0, 0, 0)
    assert "Members who got it" in page.content.decode()
