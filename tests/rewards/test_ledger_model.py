"""Randomized sequences of earn / redeem / hold / capture / void / cancel / refund, checked
step by step against a small in-memory model of the member's points."""

import itertools
from decimal import ROUND_FLOOR, Decimal

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from loyalty_engine.errors import DomainError
from members.services import shop_api_key_create
from rewards.services.purchases import refund_record
from rewards.services.redemptions import (
    redemption_cancel,
    redemption_capture,
    redemption_create,
    redemption_void,
)
from rewards.services.verification import member_ledger_problems
from tests.conftest import earn
from tests.factories import MemberFactory

_ids = itertools.count()
cents = st.integers(min_value=1, max_value=20_000).map(lambda c: Decimal(c) / 100)


class LedgerMachine(RuleBasedStateMachine):
    purchases = Bundle("purchases")
    holds = Bundle("holds")
    captured = Bundle("captured")

    def __init__(self):
        super().__init__()
        self.shop, _ = shop_api_key_create(shop_name="Model shop")
        self.member = MemberFactory()
        self.available = self.held = self.owed = self.lifetime = 0
        self.purchase_state: dict[str, dict] = {}

    def _settle(self):
        settled = min(self.owed, self.available)
        self.owed -= settled
        self.available -= settled

    def _spend(self, points, hold):
        key = f"k{next(_ids)}"
        try:
            result = redemption_create(
                shop=self.shop,
                member_external_id=self.member.external_id,
                points=points,
                idempotency_key=key,
                hold=hold,
                request_hash=key,
            )
        except DomainError as error:
            assert error.code == "insufficient_points"
            assert points > self.available
            return None
        assert points <= self.available
        self.available -= points
        self.held += points if hold else 0
        assert result.response["balance"] == self.available
        return (result.record.pk, points)

    @rule(target=purchases, amount=cents)
    def earn(self, amount):
        order_id = f"o{next(_ids)}"
        points = int(amount.to_integral_value(rounding=ROUND_FLOOR))
        response = earn(self.shop, self.member, amount, order_id=order_id)
        self.lifetime += points
        self.available += points
        self._settle()
        assert response["points_earned"] == points
        assert response["balance"] == self.available
        self.purchase_state[order_id] = {"amount": amount, "points": points, "refunded": 0}
        return order_id

    @rule(target=captured, points=st.integers(min_value=1, max_value=150))
    def redeem(self, points):
        return self._spend(points, hold=False) or multiple()

    @rule(target=holds, points=st.integers(min_value=1, max_value=150))
    def hold(self, points):
        return self._spend(points, hold=True) or multiple()

    @rule(target=captured, hold=consumes(holds))
    def capture(self, hold):
        redemption_capture(shop=self.shop, redemption_id=hold[0])
        self.held -= hold[1]
        return hold

    @rule(hold=consumes(holds))
    def void(self, hold):
        body, replayed = redemption_void(shop=self.shop, redemption_id=hold[0])
        self.held -= hold[1]
        self.available += hold[1]
        self._settle()
        assert not replayed and body["balance"] == self.available

    @rule(redemption=consumes(captured))
    def cancel(self, redemption):
        body, _ = redemption_cancel(shop=self.shop, redemption_id=redemption[0])
        self.available += redemption[1]
        self._settle()
        assert body["balance"] == self.available

    @rule(order_id=purchases, share=st.integers(min_value=1, max_value=100))
    def refund(self, order_id, share):
        state = self.purchase_state[order_id]
        amount = (state["amount"] * share / 100).quantize(Decimal("0.01"), ROUND_FLOOR)
        if amount <= 0:
            return
        refund_id = f"r{next(_ids)}"
        try:
            result = refund_record(
                shop=self.shop,
                order_id=order_id,
                refund_id=refund_id,
                amount=amount,
                request_hash=refund_id,
            )
        except DomainError as error:
            assert error.code == "refund_exceeds_purchase"
            assert state["refunded"] + amount > state["amount"]
            return
        before = (state["points"] * state["refunded"] / state["amount"]).to_integral_value(
            ROUND_FLOOR
        )
        state["refunded"] += amount
        after = (state["points"] * state["refunded"] / state["amount"]).to_integral_value(
            ROUND_FLOOR
        )
        reverse = int(after - before)
        taken = min(reverse, self.available)
        self.available -= taken
        self.owed += reverse - taken
        self.lifetime -= reverse
        assert result.response["points_reversed"] == reverse
        assert result.response["balance"] == self.available

    # Issue 17: activities that earn, and merges of a duplicate member into this one.

    ACTIVITY_POINTS = 7
    ACTIVITY_CAP_PER_DAY = 3

    def _activity_type(self):
        from django.utils import timezone

        from rewards.models import ActivityType

        if not hasattr(self, "activity_type"):
            # The examples share one database: each machine defines its own type.
            self.activity_type = ActivityType.objects.create(
                key=f"review-{next(_ids)}",
                name="Review",
                points=self.ACTIVITY_POINTS,
                cap_per_day=self.ACTIVITY_CAP_PER_DAY,
            )
            self.activity_day = timezone.now()
            self.activities_earning = 0
        return self.activity_type

    @rule(repeat=st.booleans())
    def activity(self, repeat):
        from rewards.services.activities import activity_record

        self._activity_type()
        activity_id = f"a{next(_ids)}"
        calls = 2 if repeat else 1
        for _ in range(calls):  # a repeat is replayed and earns nothing more
            result = activity_record(
                shop=self.shop,
                member_external_id=self.member.external_id,
                activity_id=activity_id,
                type_key=self.activity_type.key,
                occurred_at=self.activity_day,
                request_hash=activity_id,
            )
        if self.activities_earning < self.ACTIVITY_CAP_PER_DAY:
            self.activities_earning += 1
            self.available += self.ACTIVITY_POINTS
            self.lifetime += self.ACTIVITY_POINTS
            self._settle()
            assert result.response["points"] == self.ACTIVITY_POINTS
        else:
            assert (result.response["points"], result.response["capped_by"]) == (0, "day")

    def _duplicate(self, amount):
        from rewards.services.merges import member_merge

        duplicate = MemberFactory()
        order_id = f"d{next(_ids)}"
        earn(self.shop, duplicate, amount, order_id=order_id)
        return duplicate, order_id, member_merge

    def _merged(self, duplicate, member_merge):
        member_merge(source=duplicate, target=self.member, reason="Enrolled twice")
        duplicate.refresh_from_db()
        assert duplicate.points_balance == duplicate.points_held == duplicate.points_owed == 0
        assert duplicate.lifetime_earned == 0
        assert member_ledger_problems(duplicate) == []

    @rule(target=purchases, amount=cents)
    def merge_duplicate_with_a_purchase(self, amount):
        """The duplicate's points and purchase move here: a refund of it later takes its
        points back from this member."""
        duplicate, order_id, member_merge = self._duplicate(amount)
        points = int(amount.to_integral_value(rounding=ROUND_FLOOR))
        self._merged(duplicate, member_merge)
        self.available += points
        self.lifetime += points  # what the duplicate earned counts as this member's
        self._settle()
        self.purchase_state[order_id] = {"amount": amount, "points": points, "refunded": 0}
        return order_id

    @rule(target=holds, amount=cents, share=st.integers(min_value=1, max_value=100))
    def merge_duplicate_with_a_hold(self, amount, share):
        """The duplicate's open hold moves here with its points: this member captures,
        voids or cancels it as its own."""
        duplicate, _, member_merge = self._duplicate(amount)
        points = int(amount.to_integral_value(rounding=ROUND_FLOOR))
        held = points * share // 100
        hold_id = None
        if held:
            key = f"k{next(_ids)}"
            hold_id = redemption_create(
                shop=self.shop,
                member_external_id=duplicate.external_id,
                points=held,
                idempotency_key=key,
                hold=True,
                request_hash=key,
            ).record.pk
        self._merged(duplicate, member_merge)
        self.available += points - held
        self.lifetime += points
        self.held += held
        self._settle()
        return (hold_id, held) if held else multiple()

    @invariant()
    def balances_match_the_model_and_the_ledger_reconciles(self):
        self.member.refresh_from_db()
        assert (
            self.member.points_available,
            self.member.points_held,
            self.member.points_owed,
            self.member.lifetime_earned,
        ) == (self.available, self.held, self.owed, self.lifetime)
        assert member_ledger_problems(self.member) == []


@pytest.mark.django_db
def test_random_operation_sequences_agree_with_the_model(program):
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=60,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
