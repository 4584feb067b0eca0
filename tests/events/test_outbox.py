"""Events are written with the change that they tell about, and only then."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError

from loyalty_engine.db import durable_write
from loyalty_engine.events.models import Event
from loyalty_engine.events.outbox import event_emit
from loyalty_engine.events.services import event_envelope
from members.services import member_erase, member_reactivate, member_suspend
from metrics.services import feedback_record
from rewards.models import Milestone, PointLot, Reward, Tier
from rewards.services.adjustments import points_adjust
from rewards.services.catalog import voucher_use
from rewards.services.enrollment import member_enroll
from rewards.services.expiring import points_expiring_notify
from rewards.services.purchases import refund_record
from rewards.services.redemptions import (
    redemption_cancel,
    redemption_capture,
    redemption_create,
    redemption_void,
    reward_redeem,
)
from tests.conftest import earn
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def types() -> list[str]:
    return list(Event.objects.order_by("seq").values_list("type", flat=True))


def last(event_type: str) -> dict:
    return event_envelope(Event.objects.filter(type=event_type).latest("seq"))


def test_a_purchase_emits_points_earned_with_balance_tier_and_reason(shop, program):
    Tier.objects.create(name="Bronze", rank=1, threshold=0)
    member = member_enroll(external_id="ann-1", email="ann@example.com", shop=shop)
    earn(shop, member, "42.50", order_id="A-100")
    event = last("points.earned")
    assert event["id"].startswith("evt_")
    assert event["version"] == 1
    assert event["member"] == {"external_id": "ann-1"}
    assert event["occurred_at"].endswith("Z")
    assert event["data"]["points"] == 42
    assert event["data"]["order_id"] == "A-100"
    assert event["data"]["source"] == "purchase"
    assert event["data"]["tier"] == "Bronze"
    assert event["data"]["balance"] == {
        "available": 42,
        "pending": 0,
        "held": 0,
        "owed": 0,
        "lifetime_earned": 42,
    }
    assert "42" in event["data"]["reason"]
    assert types() == ["member.enrolled", "points.earned"]


def test_a_refused_purchase_emits_nothing(shop, member):
    from rewards.errors import CurrencyNotAccepted

    with pytest.raises(CurrencyNotAccepted):
        earn(shop, member, "10.00", currency="USD")
    assert types() == []


def test_an_idempotent_replay_emits_nothing(shop_client, member):
    body = {"member": member.external_id, "order_id": "R-1", "amount": "10.00", "currency": "EUR"}
    assert shop_client.post("/api/v1/purchases", body, format="json").status_code == 201
    replay = shop_client.post("/api/v1/purchases", body, format="json")
    assert replay.status_code == 200
    assert replay.headers["Idempotent-Replay"] == "true"
    assert types() == ["points.earned"]


def test_a_transaction_failing_after_the_event_leaves_no_event(member):
    @durable_write
    def change_that_fails():
        event_emit(type="points.adjusted", member=member, data={"points": 1})
        raise IntegrityError("the change failed after its event")

    with pytest.raises(IntegrityError):
        change_that_fails()
    assert types() == []


def test_an_event_outside_a_durable_write_is_written_at_once(member):
    event_emit(type="member.suspended", member=member, data={"reason": "test"})
    assert types() == ["member.suspended"]


def test_an_unknown_event_type_is_a_programming_error(member):
    with pytest.raises(ValueError, match="Unknown event type"):
        event_emit(type="points.stolen", member=member)


def test_member_lifecycle_events_and_erasure_carries_no_personal_data(shop, program):
    member = member_enroll(external_id="bob-7", email="bob@example.com", name="Bob", shop=shop)
    member_suspend(member=member, reason="fraud check")
    member_reactivate(member=member, reason="cleared")
    member_erase(member=member, reason="asked by Bob Smith")
    assert types() == [
        "member.enrolled",
        "member.suspended",
        "member.reactivated",
        "member.erased",
    ]
    erased = last("member.erased")
    assert erased["data"] == {}
    assert erased["member"] == {"external_id": f"erased-{member.pk}"}
    # Earlier events name the member by the pseudonym too.
    for event in Event.objects.all():
        text = str(event_envelope(event))
        assert "bob" not in text.lower()


def test_redemptions_holds_refunds_and_adjustments_emit_their_types(shop, member, program):
    earn(shop, member, "100.00", order_id="O-1")
    redeemed, _ = (
        redemption_create(
            shop=shop,
            member_external_id=member.external_id,
            points=10,
            idempotency_key="k1",
            order_id="",
            hold=False,
            request_hash="h1",
        ).response,
        None,
    )
    hold = redemption_create(
        shop=shop,
        member_external_id=member.external_id,
        points=5,
        idempotency_key="k2",
        order_id="",
        hold=True,
        request_hash="h2",
    ).response
    redemption_capture(shop=shop, redemption_id=hold["redemption_id"])
    hold2 = redemption_create(
        shop=shop,
        member_external_id=member.external_id,
        points=5,
        idempotency_key="k3",
        order_id="",
        hold=True,
        request_hash="h3",
    ).response
    redemption_void(shop=shop, redemption_id=hold2["redemption_id"])
    redemption_cancel(shop=shop, redemption_id=redeemed["redemption_id"])
    refund_record(
        shop=shop, order_id="O-1", refund_id="RF-1", amount=Decimal("10.00"), request_hash="r1"
    )
    points_adjust(member=member, points=3, reason="goodwill")
    assert types() == [
        "points.earned",
        "points.redeemed",
        "hold.created",
        "hold.captured",
        "hold.created",
        "hold.voided",
        "redemption.cancelled",
        "points.reversed",
        "points.adjusted",
    ]
    assert last("points.redeemed")["data"]["points"] == -10
    assert last("hold.created")["data"]["expires_at"].endswith("Z")
    assert last("points.reversed")["data"]["points"] == -10
    assert last("points.adjusted")["data"]["reason"] == "goodwill"
    member.refresh_from_db()
    assert last("points.adjusted")["data"]["balance"]["available"] == member.points_available


def test_a_hold_past_its_time_emits_hold_released(shop, member, program):
    earn(shop, member, "100.00")
    now = datetime.now(UTC)
    hold = redemption_create(
        shop=shop,
        member_external_id=member.external_id,
        points=5,
        idempotency_key="k",
        order_id="",
        hold=True,
        request_hash="h",
        as_of=now,
    ).response
    later = now + timedelta(minutes=program.hold_ttl_minutes + 1)
    from rewards.errors import HoldExpired

    with pytest.raises(HoldExpired):
        redemption_capture(shop=shop, redemption_id=hold["redemption_id"], as_of=later)
    assert types()[-1] == "hold.released"


def test_tiers_milestones_and_vouchers_emit_their_events(shop, member, program):
    Tier.objects.create(name="Bronze", rank=1, threshold=0)
    Tier.objects.create(name="Gold", rank=2, threshold=100)
    reward = Reward.objects.create(name="Coffee", points_cost=10)
    Milestone.objects.create(
        name="First purchase", kind=Milestone.Kind.PURCHASE_COUNT, target=1, reward=reward
    )
    program.refresh_from_db()
    earn(shop, member, "150.00")
    changed = last("tier.changed")["data"]
    assert (changed["to_tier"], changed["direction"]) == ("Gold", "up")
    reached = last("milestone.reached")["data"]
    assert reached["milestone"] == "First purchase"
    issued = last("voucher.issued")["data"]
    assert issued["code"] == reached["voucher_code"]
    voucher_use(shop=shop, code=issued["code"])
    assert last("voucher.used")["data"]["code"] == issued["code"]
    redeemed = reward_redeem(
        shop=shop,
        member_external_id=member.external_id,
        reward_id=reward.pk,
        idempotency_key="rw",
        order_id="",
        request_hash="rw",
    )
    assert redeemed.response["voucher"]["code"] == last("voucher.issued")["data"]["code"]


def test_feedback_emits_feedback_received(shop, member):
    feedback_record(
        shop=shop,
        member_external_id=member.external_id,
        kind="nps",
        score=9,
        comment="",
        answered_at=None,
        feedback_id=None,
        request_hash="f",
    )
    assert last("feedback.received")["data"] == {"kind": "nps", "score": 9, "shop": shop.name}


def test_points_expiring_is_emitted_once_per_member_and_expiry_date(shop, program):
    ann, bob = MemberFactory(), MemberFactory()
    # Early in a month eleven months ago: the points expire at the end of next month.
    earned = (datetime.now(UTC) - timedelta(days=334)).replace(day=2)
    earn(shop, ann, "10.00", occurred_at=earned)
    earn(shop, ann, "5.00", occurred_at=earned + timedelta(days=3))
    earn(shop, bob, "7.00", occurred_at=earned)
    expires_at = PointLot.objects.get(member=bob).expires_at
    as_of = expires_at - timedelta(days=20)
    first = points_expiring_notify(as_of=as_of)
    again = points_expiring_notify(as_of=as_of + timedelta(days=1))
    events = Event.objects.filter(type="points.expiring").order_by("member_id")
    day = expires_at.date().isoformat()
    assert [(e.member_id, e.data["points"], e.data["expires_on"]) for e in events] == [
        (ann.pk, 15, day),
        (bob.pk, 7, day),
    ]
    assert events[0].data["balance"]["available"] == 15
    assert first["items"] == 2 and again["items"] == 2  # looked at, not written twice


def test_points_expiring_is_not_emitted_outside_the_notice_window(shop, program):
    member = MemberFactory()
    earn(shop, member, "10.00")
    points_expiring_notify(as_of=datetime.now(UTC) + timedelta(days=30))
    assert not Event.objects.filter(type="points.expiring").exists()


def test_the_nightly_set_based_expiry_emits_points_expired(shop, program):
    from rewards.services.catch_up import members_nightly_catch_up

    member = MemberFactory()
    earn(shop, member, "10.00")
    Event.objects.all().delete()
    members_nightly_catch_up(member_ids=[member.pk], as_of=datetime.now(UTC) + timedelta(days=800))
    event = last("points.expired")
    assert event["data"]["points"] == -10
    assert event["data"]["balance"]["available"] == 0


def test_a_bulk_import_emits_its_events_marked_imported_and_builds_no_email(shop, program):
    from rewards.models import EarnRule
    from rewards.services.bulk_import import members_bulk_enroll, purchases_bulk_record
    from rewards.services.import_rows import MemberRow, PurchaseRow
    from rewards.services.messages import messages_from_events

    EarnRule.objects.create(name="Welcome", kind=EarnRule.Kind.SIGNUP_BONUS, bonus_points=50)
    now = datetime.now(UTC)
    members_bulk_enroll(
        rows=[MemberRow(1, "imp-1", "imp@example.com", "Imp", None, None)], as_of=now
    )
    purchases_bulk_record(
        rows=[PurchaseRow(1, shop.name, "IMP-1", "imp-1", Decimal("20.00"), "EUR", now, "", "")],
        shops={shop.name: shop},
        request_hashes=["h"],
        as_of=now,
    )
    assert types() == ["member.enrolled", "points.earned", "points.earned"]
    events = list(Event.objects.order_by("seq"))
    assert all(event.data["imported"] for event in events)
    assert events[-1].data["order_id"] == "IMP-1"
    assert events[-1].data["balance"]["available"] == 70
    assert messages_from_events(events) == 0


def test_a_commit_asks_a_worker_to_dispatch_once_a_second_at_most(
    shop, member, settings, django_capture_on_commit_callbacks
):
    from loyalty_engine.events import outbox

    settings.CELERY_TASK_ALWAYS_EAGER = False
    outbox._last_kick[0] = 0.0
    with django_capture_on_commit_callbacks() as first:
        earn(shop, member, "10.00")
    with django_capture_on_commit_callbacks() as second:
        earn(shop, member, "10.00")
    assert len(first) == 1 and len(second) == 0
    outbox._last_kick[0] = 0.0  # a second later
    with django_capture_on_commit_callbacks() as third:
        earn(shop, member, "10.00")
    assert len(third) == 1


def test_development_without_a_broker_asks_no_worker(
    shop, member, django_capture_on_commit_callbacks
):
    from loyalty_engine.events import outbox

    outbox._last_kick[0] = 0.0
    with django_capture_on_commit_callbacks() as callbacks:
        earn(shop, member, "10.00")
    assert callbacks == []
