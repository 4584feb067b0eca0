"""Activities under real concurrency on PostgreSQL: one record per activity id, and a cap
never passed."""

import pytest

from members.services import shop_api_key_create
from rewards.models import Activity, ActivityType
from rewards.selectors import program_get
from tests.factories import MemberFactory
from tests.ledger_checks import assert_reconciles
from tests.rewards.test_concurrency import client_for, run_concurrently

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_concurrent_activities_never_pass_the_cap_and_never_repeat():
    program_get()
    ActivityType.objects.create(key="newsletter_signup", name="Newsletter", points=50, cap_total=1)
    _, key = shop_api_key_create(shop_name="Activity shop")
    member = MemberFactory()

    def report(index):
        # Half the threads send the same activity id, the others each their own.
        activity_id = "same" if index % 2 else f"own-{index}"
        return client_for(key).post(
            "/api/v1/activities",
            {"member": member.external_id, "activity_id": activity_id, "type": "newsletter_signup"},
            format="json",
        )

    responses = run_concurrently(10, report)
    assert not [r for r in responses if isinstance(r, Exception)], responses
    assert {r.status_code for r in responses} <= {200, 201}
    assert Activity.objects.filter(activity_id="same").count() == 1
    assert Activity.objects.count() == 6
    assert Activity.objects.filter(points__gt=0).count() == 1
    same = {r.json()["points"] for r in responses if r.json()["activity_id"] == "same"}
    assert len(same) == 1  # every repeat got the first answer
    member.refresh_from_db()
    assert member.points_available == 50
    assert_reconciles(member)
