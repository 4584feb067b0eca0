"""Spending points: direct redemptions, redemptions of a catalog reward for a voucher,
two-phase holds (capture, void, expiry), and cancelling a captured redemption."""

import uuid
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

from django.utils import timezone
from django.utils.translation import ngettext

from loyalty_engine.db import durable_write
from loyalty_engine.fields import rfc3339
from loyalty_engine.rows import RowInsert
from members.errors import MemberMerged
from members.models import Member, Shop
from rewards import ledger_words
from rewards.currency import minor_units, money_str
from rewards.errors import (
    HoldAlreadyResolved,
    HoldExpired,
    InsufficientPoints,
    MemberNotActive,
    RedemptionBelowMinimum,
    RedemptionExceedsOrderShare,
    RedemptionNotCancellable,
    RedemptionNotFound,
    RedemptionNotInSteps,
    RewardNotFound,
    RewardUnavailable,
)
from rewards.models import LedgerEntry, PointLot, Redemption, Voucher
from rewards.segments import member_segments_attach
from rewards.selectors import member_tier_id_get, member_vouchers_held, program_get, reward_get
from rewards.services.catalog import (
    reward_unavailable_reason,
    voucher_cancel,
    voucher_issue,
    voucher_response,
)
from rewards.services.checkout import redemption_points_check
from rewards.services.expiry import expiry_inactivity_extend, inactivity_counts
from rewards.services.idempotency import WriteResult, write_or_replay
from rewards.services.ledger import (
    Actor,
    balance_save,
    entry_movements_undo,
    entry_write,
    hold_release,
    lots_move,
    lots_plan,
    member_catch_up,
    member_lock,
    member_lock_by_external_id,
    member_lock_with_program,
    spendable,
)

Kind = LedgerEntry.Kind
Status = Redemption.Status


def redemption_response(
    redemption: Redemption, member: Member, *, voucher: Voucher | None = None
) -> dict:
    """What a redemption call returns. A reward redemption adds its voucher (read here
    unless given)."""
    body = {
        "redemption_id": str(redemption.pk),
        "status": redemption.status,
        "points": redemption.points,
        "discount_amount": money_str(redemption.discount_amount, redemption.currency),
        "currency": redemption.currency,
        "order_id": redemption.order_id,
        "hold_expires_at": rfc3339(redemption.hold_expires_at),
        "balance": member.points_available,
    }
    if redemption.reward_id:
        voucher = voucher or Voucher.objects.select_related("reward").get(redemption=redemption)
        body["voucher"] = voucher_response(voucher, as_of=redemption.resolved_at)
    return body


def _points_plan(
    member: Member, *, points: int, as_of: datetime, actor: Actor, check=None
) -> list[tuple[PointLot, int]]:
    """Which lots pay `points`, after bringing the locked member up to `as_of`, so no
    expired or pending point is ever spent. `check(available)` may refuse first (the
    checkout settings). Raises InsufficientPoints."""
    lots = spendable(member_catch_up(member, as_of=as_of, actor=actor, spend=points))
    if check is not None:
        check(member.points_available)
    if member.points_available < points:
        raise InsufficientPoints(
            ngettext(
                "The member has %(available)s point available; %(asked)s were asked for.",
                "The member has %(available)s points available; %(asked)s were asked for.",
                member.points_available,
            )
            % {"available": member.points_available, "asked": points},
            extra={"available": member.points_available},
        )
    return lots_plan(lots, points)


def redemption_create(
    *,
    shop: Shop,
    member_external_id: str,
    points: int,
    idempotency_key: str,
    order_id: str = "",
    hold: bool = False,
    request_hash: str,
    as_of: datetime | None = None,
    order_total: Decimal | None = None,
) -> WriteResult:
    """Spend points now, or with `hold` reserve them until captured, voided or expired.

    The program's checkout settings may refuse the number of points first
    (rewards.services.checkout: RedemptionBelowMinimum, RedemptionNotInSteps, and with
    `order_total` RedemptionExceedsOrderShare).

    Lots are consumed in order (expires_at, earned_at, id), after expired and pending
    points are settled, so no expired or pending point is ever spent. Exactly once per
    (shop, Idempotency-Key). Raises MemberNotFound, MemberNotActive, InsufficientPoints
    (with the available balance), IdempotencyConflict.
    """
    return write_or_replay(
        lambda: _redemption_create(
            shop=shop,
            member_external_id=member_external_id,
            points=points,
            idempotency_key=idempotency_key,
            order_id=order_id,
            hold=hold,
            request_hash=request_hash,
            as_of=as_of,
            order_total=order_total,
        ),
        find_existing=lambda: Redemption.objects.filter(
            shop=shop, idempotency_key=idempotency_key
        ).first(),
        request_hash=request_hash,
        refusals=(
            MemberNotActive,
            InsufficientPoints,
            RedemptionBelowMinimum,
            RedemptionNotInSteps,
            RedemptionExceedsOrderShare,
        ),
    )


@durable_write(pipelined=True)
def _redemption_create(
    *,
    shop,
    member_external_id,
    points,
    idempotency_key,
    order_id,
    hold,
    request_hash,
    as_of,
    order_total=None,
) -> WriteResult:
    as_of = as_of or timezone.now()
    # One round trip for the member's lock and the program (and, pipelined, the number of
    # its entry), as a purchase does, and the lots the points will come from.
    member, program = member_lock_with_program(
        member_external_id, reserve=(LedgerEntry,), spending=(as_of, points)
    )
    if member is None:
        program = program_get()
        member = member_lock_by_external_id(member_external_id)
    # No look for an earlier redemption under this key: a repeat fails on the key's unique
    # constraint at the insert, or is refused before it, and `redemption_create` replays it.
    if member.status != Member.Status.ACTIVE:
        raise MemberNotActive()

    actor = Actor.for_shop(shop)
    plan = _points_plan(
        member,
        points=points,
        as_of=as_of,
        actor=actor,
        check=lambda available: redemption_points_check(
            program=program, points=points, order_total=order_total, available=available
        ),
    )

    exponent = Decimal(1).scaleb(-minor_units(program.currency))
    discount = (points * program.point_value).quantize(exponent, rounding=ROUND_FLOOR)
    redemption = Redemption(
        id=uuid.uuid4(),
        shop=shop,
        member=member,
        idempotency_key=idempotency_key,
        points=points,
        discount_amount=discount,
        currency=program.currency,
        order_id=order_id,
        order_total=order_total,
        status=Status.HELD if hold else Status.CAPTURED,
        hold_expires_at=as_of + timedelta(minutes=program.hold_ttl_minutes) if hold else None,
        created_at=as_of,
        resolved_at=None if hold else as_of,
        request_hash=request_hash,
    )
    member.points_available -= points  # the response shows the balance after this write
    redemption.response = redemption_response(redemption, member)
    member.points_available += points
    _redemption_insert.insert(redemption)

    reference = f"redemption:{redemption.pk}"
    if hold:
        entry = entry_write(
            member,
            kind=Kind.HOLD,
            actor=actor,
            as_of=as_of,
            points=-points,
            held_change=points,
            words=ledger_words.held(points=points, discount=discount, currency=program.currency),
            reference=reference,
            redemption=redemption,
        )
    else:
        entry = entry_write(
            member,
            kind=Kind.REDEEM,
            actor=actor,
            as_of=as_of,
            points=-points,
            words=ledger_words.redeemed(
                points=points, discount=discount, currency=program.currency
            ),
            reference=reference,
            redemption=redemption,
        )
    lots_move(member, entry=entry, plan=plan, sign=-1)
    if inactivity_counts(program, redemption=True):
        expiry_inactivity_extend(member, program=program, activity_at=as_of, as_of=as_of)
    balance_save(member)
    return WriteResult(record=redemption, replayed=False)


def reward_redeem(
    *,
    shop: Shop,
    member_external_id: str,
    reward_id: int,
    idempotency_key: str,
    order_id: str = "",
    request_hash: str,
    as_of: datetime | None = None,
) -> WriteResult:
    """Spend a catalog reward's points_cost and issue the member a voucher for it.

    Under the member lock: the reward must be redeemable by this member now
    (`reward_unavailable_reason`), the points come from the lots as for any redemption (one
    `redeem` entry naming the reward), and `voucher_issue` takes one unit of stock with a
    conditional update, locking the reward row after the member row. The stored response
    includes the voucher. Exactly once per (shop, Idempotency-Key). Raises MemberNotFound,
    MemberNotActive, RewardNotFound, RewardNotAvailable, RewardTierRequired,
    RewardLimitReached, RewardOutOfStock, InsufficientPoints, IdempotencyConflict.
    """
    return write_or_replay(
        lambda: _reward_redeem(
            shop=shop,
            member_external_id=member_external_id,
            reward_id=reward_id,
            idempotency_key=idempotency_key,
            order_id=order_id,
            request_hash=request_hash,
            as_of=as_of,
        ),
        find_existing=lambda: Redemption.objects.filter(
            shop=shop, idempotency_key=idempotency_key
        ).first(),
        request_hash=request_hash,
        # A repeat finds its own voucher held and its stock and points taken.
        refusals=(MemberNotActive, RewardNotFound, RewardUnavailable, InsufficientPoints),
    )


@durable_write
def _reward_redeem(
    *, shop, member_external_id, reward_id, idempotency_key, order_id, request_hash, as_of
) -> WriteResult:
    as_of = as_of or timezone.now()
    member = member_lock_by_external_id(member_external_id)
    # A repeat is replayed by `reward_redeem`, as in `_redemption_create`.
    if member.status != Member.Status.ACTIVE:
        raise MemberNotActive()

    reward = reward_get(reward_id=reward_id)
    member_segments_attach([reward], member=member)
    # The member's tier and vouchers are read only for a reward that limits by them.
    refusal = reward_unavailable_reason(
        reward,
        member_tier_id=member_tier_id_get(member=member) if reward.tiers.all() else None,
        vouchers_held=(
            member_vouchers_held(member=member, reward_ids=[reward.pk]).get(reward.pk, 0)
            if reward.per_member_limit is not None
            else 0
        ),
        as_of=as_of,
    )
    if refusal:
        raise refusal
    actor = Actor.for_shop(shop)
    points = reward.points_cost
    plan = _points_plan(member, points=points, as_of=as_of, actor=actor)

    program = program_get()
    redemption = Redemption.objects.create(
        id=uuid.uuid4(),
        shop=shop,
        member=member,
        idempotency_key=idempotency_key,
        points=points,
        # A reward is handed over, not taken off the bill.
        discount_amount=Decimal(0).quantize(Decimal(1).scaleb(-minor_units(program.currency))),
        currency=program.currency,
        order_id=order_id,
        reward=reward,
        status=Status.CAPTURED,
        created_at=as_of,
        resolved_at=as_of,
        request_hash=request_hash,
        response={},
    )
    entry = entry_write(
        member,
        kind=Kind.REDEEM,
        actor=actor,
        as_of=as_of,
        points=-points,
        words=ledger_words.redeemed_reward(points=points, reward=reward),
        reference=f"redemption:{redemption.pk}",
        redemption=redemption,
    )
    lots_move(member, entry=entry, plan=plan, sign=-1)
    if inactivity_counts(program, redemption=True):
        expiry_inactivity_extend(member, program=program, activity_at=as_of, as_of=as_of)
    balance_save(member)
    # Last, so the reward row stays locked only for the end of the transaction.
    voucher = voucher_issue(member, reward=reward, as_of=as_of, redemption=redemption)
    redemption.response = redemption_response(redemption, member, voucher=voucher)
    redemption.save(update_fields=["response"])
    return WriteResult(record=redemption, replayed=False)


def _lock_redemption(*, shop: Shop, redemption_id: uuid.UUID) -> tuple[Member, Redemption]:
    member_id = (
        Redemption.objects.filter(shop=shop, pk=redemption_id)
        .values_list("member_id", flat=True)
        .first()
    )
    if member_id is None:
        raise RedemptionNotFound()
    member = member_lock(member_id=member_id)
    # Re-read under the member lock: every change to the member's redemptions holds it.
    redemption = Redemption.objects.get(pk=redemption_id)
    if redemption.member_id != member.pk:
        # A merge moved this hold to another member while we waited for the lock.
        member = member_lock(member_id=redemption.member_id)
    return member, redemption


def redemption_capture(
    *, shop: Shop, redemption_id: uuid.UUID, as_of: datetime | None = None
) -> tuple[dict, bool]:
    """Turn a hold into a spent redemption, at most once. Capturing a captured hold
    replays its result. Raises HoldExpired (after releasing the points, committed),
    HoldAlreadyResolved, RedemptionNotFound."""
    outcome, body, replayed = _redemption_capture(
        shop=shop, redemption_id=redemption_id, as_of=as_of or timezone.now()
    )
    if outcome == "expired":
        raise HoldExpired()
    return body, replayed


@durable_write
def _redemption_capture(*, shop, redemption_id, as_of) -> tuple[str, dict, bool]:
    member, redemption = _lock_redemption(shop=shop, redemption_id=redemption_id)
    if redemption.status == Status.CAPTURED and redemption.hold_expires_at:
        return "ok", redemption_response(redemption, member), True
    if redemption.status != Status.HELD:
        raise HoldAlreadyResolved()
    if redemption.hold_expires_at <= as_of:
        hold_release(member, redemption=redemption, as_of=as_of, actor=Actor.system(), expired=True)
        balance_save(member)
        return "expired", {}, False
    entry_write(
        member,
        kind=Kind.CAPTURE,
        actor=Actor.for_shop(shop),
        as_of=as_of,
        held_change=-redemption.points,
        words=ledger_words.captured(points=redemption.points),
        reference=f"redemption:{redemption.pk}",
        redemption=redemption,
    )
    redemption.status = Status.CAPTURED
    redemption.resolved_at = as_of
    redemption.save(update_fields=["status", "resolved_at"])
    balance_save(member)
    return "ok", redemption_response(redemption, member), False


@durable_write
def redemption_void(
    *, shop: Shop, redemption_id: uuid.UUID, as_of: datetime | None = None
) -> tuple[dict, bool]:
    """Release a hold's points back to their lots. Voiding a voided or expired hold
    replays its result. Raises HoldAlreadyResolved, RedemptionNotFound."""
    as_of = as_of or timezone.now()
    member, redemption = _lock_redemption(shop=shop, redemption_id=redemption_id)
    if redemption.status in (Status.VOIDED, Status.EXPIRED):
        return redemption_response(redemption, member), True
    if redemption.status != Status.HELD:
        raise HoldAlreadyResolved()
    hold_release(
        member, redemption=redemption, as_of=as_of, actor=Actor.for_shop(shop), expired=False
    )
    member_catch_up(member, as_of=as_of, actor=Actor.system())
    balance_save(member)
    return redemption_response(redemption, member), False


@durable_write
def redemption_cancel(
    *, shop: Shop, redemption_id: uuid.UUID, as_of: datetime | None = None
) -> tuple[dict, bool]:
    """Give a captured redemption's points back to the lots they came from, with their
    original expiry (points whose lot has expired since expire at once). A reward
    redemption's voucher is cancelled and its unit returns to stock; if the voucher was
    used, nothing changes. Idempotent. Raises RedemptionNotCancellable, RedemptionNotFound,
    VoucherAlreadyUsed."""
    as_of = as_of or timezone.now()
    member, redemption = _lock_redemption(shop=shop, redemption_id=redemption_id)
    if redemption.status == Status.CANCELLED:
        return redemption_response(redemption, member), True
    if redemption.status != Status.CAPTURED:
        raise RedemptionNotCancellable()
    words = ledger_words.cancelled(points=redemption.points)
    if member.status == Member.Status.MERGED:
        # Its points were spent from lots that the merge has emptied and moved on.
        raise MemberMerged()
    voucher = None
    if redemption.reward_id:
        # First: a voucher used at a till refuses the cancel before anything is written.
        voucher = voucher_cancel(
            Voucher.objects.select_related("reward").get(redemption=redemption), as_of=as_of
        )
        words = ledger_words.voucher_cancelled(
            points=redemption.points, code=voucher.code, reward=voucher.reward
        )
    # What took the points from this member's lots: the redemption or its hold, or, for a
    # hold that a merge moved here, the merge_in entry that took them again.
    spent = LedgerEntry.objects.get(
        redemption=redemption, kind__in=[Kind.REDEEM, Kind.HOLD, Kind.MERGE_IN], member=member
    )
    entry = entry_write(
        member,
        kind=Kind.CANCEL,
        actor=Actor.for_shop(shop),
        as_of=as_of,
        points=redemption.points,
        words=words,
        reference=f"redemption:{redemption.pk}",
        redemption=redemption,
    )
    entry_movements_undo(member, original=spent, entry=entry)
    member_catch_up(member, as_of=as_of, actor=Actor.system())
    redemption.status = Status.CANCELLED
    redemption.resolved_at = as_of
    redemption.save(update_fields=["status", "resolved_at"])
    balance_save(member)
    return redemption_response(redemption, member, voucher=voucher), False


# Redemptions have no save signals: inserted by a statement built once (issue 18).
_redemption_insert = RowInsert(Redemption)
