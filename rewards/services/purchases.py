"""Earning points on purchases and taking them back on refunds."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

from django.utils import timezone
from django.utils.translation import gettext

from loyalty_engine import i18n
from loyalty_engine.db import durable_write
from loyalty_engine.locale_format import money_format
from loyalty_engine.rows import RowInsert, RowUpdate, reserved_id
from members.models import Member, Shop
from rewards import ledger_words
from rewards.currency import minor_units, money_str
from rewards.errors import (
    CurrencyNotAccepted,
    MemberNotActive,
    PurchaseNotFound,
    RefundExceedsPurchase,
)
from rewards.models import (
    EarnAward,
    LedgerEntry,
    MemberTier,
    PointLot,
    Program,
    Purchase,
    PurchaseLine,
    Refund,
    Tier,
)
from rewards.selectors import member_get, program_for_purchase_get
from rewards.services.budgets import earn_budgets_take
from rewards.services.earning import EarnCalculation, member_purchase_points_calculate
from rewards.services.exclusions import points_paid_amount_get
from rewards.services.expiry import expiry_inactivity_extend, inactivity_counts
from rewards.services.idempotency import WriteResult, replay_or_none, write_or_replay
from rewards.services.ledger import (
    Actor,
    balance_save,
    entry_write,
    lot_create,
    lot_expires_at,
    lots_expire,
    lots_move,
    lots_plan,
    member_catch_up,
    member_lock,
    member_lock_by_external_id,
    member_lock_with_program,
    owed_settle,
    spendable,
)
from rewards.services.milestones import milestones_award
from rewards.services.plain_earn import plain_earn_try
from rewards.services.tiers import (
    member_tier_state_get,
    tier_for_value,
    tier_upgrade_check,
    tiers_list,
)

Kind = LedgerEntry.Kind


@dataclass(frozen=True)
class LineInput:
    sku: str
    category: str
    quantity: Decimal
    unit_price: Decimal


@dataclass(frozen=True)
class EarnPlan:
    tiers: list[Tier]
    tier_state: MemberTier | None
    tier: Tier | None
    calculation: EarnCalculation
    available_at: datetime
    already_expired: bool
    is_pending: bool


def _currency_check(program: Program, currency: str) -> None:
    if currency != program.currency:
        raise CurrencyNotAccepted(
            gettext("The program accepts %(currency)s only.") % {"currency": program.currency},
            extra={"currency": program.currency},
        )


def _earn_plan(
    *,
    program,
    member,
    shop,
    amount,
    lines,
    occurred_at: datetime,
    as_of: datetime,
    points_paid_amount: Decimal = Decimal(0),
) -> EarnPlan:
    """What a purchase earns now and when its points become available: shared by the real
    earn and the preview, so they cannot disagree. `program` comes from
    `program_for_purchase_get`: what is not configured is not read."""
    tiers = tiers_list() if program.has_tiers else []
    tier_state = member_tier_state_get(member=member) if tiers else None
    # As member_tier_get: the stored tier, or the entry tier for a member not placed yet.
    tier = tier_state.tier if tier_state else tier_for_value(tiers, Decimal(0))
    calculation = member_purchase_points_calculate(
        program=program,
        member=member,
        shop=shop,
        tier=tier,
        amount=amount,
        lines=lines,
        occurred_at=occurred_at,
        rules_configured=program.has_purchase_rules,
        points_paid_amount=points_paid_amount,
    )
    available_at = occurred_at + timedelta(days=program.pending_days)
    # A purchase imported from long ago may earn points that are already past expiry:
    # they are earned and expired in this same transaction, never shown as spendable.
    expires_at = lot_expires_at(program=program, earned_at=occurred_at)
    already_expired = expires_at is not None and expires_at <= as_of
    return EarnPlan(
        tiers=tiers,
        tier_state=tier_state,
        tier=tier,
        calculation=calculation,
        available_at=available_at,
        already_expired=already_expired,
        is_pending=available_at > as_of and not already_expired,
    )


def earn_awards_build(
    *,
    entry: LedgerEntry,
    purchase: Purchase,
    calculation: EarnCalculation,
    awarded_at: datetime,
    local_date,
) -> list[EarnAward]:
    """The itemized awards of a purchase's earn entry, one per item that gave points: what
    the purchase response lists and the caps count."""
    return [
        _award_insert.build(
            member=entry.member,
            entry=entry,
            purchase=purchase,
            source=item.source,
            rule=item.rule,
            tier=item.tier,
            description=item.description,
            points=item.points,
            awarded_at=awarded_at,
            local_date=local_date,
        )
        for item in calculation.items
        if item.points
    ]


def purchase_record(
    *,
    shop: Shop,
    member_external_id: str,
    order_id: str,
    amount: Decimal,
    currency: str,
    occurred_at: datetime | None,
    lines: list[LineInput],
    request_hash: str,
    as_of: datetime | None = None,
    redemption_id=None,
    points_paid_amount: Decimal | None = None,
) -> WriteResult:
    """Record a purchase and earn its points, exactly once per (shop, order_id).

    Lines the program excludes, and the part paid with points (`points_paid_amount`, or
    the discount of the member's redemption `redemption_id`), earn nothing
    (rewards.services.exclusions); a budgeted rule gives at most what is left of its
    budget (rewards.services.budgets). Raises RedemptionNotFound for a redemption that is
    not the member's.

    A replay with the same request hash returns the stored response and writes nothing;
    another request under the same order id raises IdempotencyConflict. Points owed from
    earlier refunds are settled first from the new points once they are available.
    Raises CurrencyNotAccepted, MemberNotFound, MemberNotActive.

    On PostgreSQL a plain purchase (no lines, date, redemption or points paid, and a
    program without tiers, rules or milestones) is written in one statement that writes
    the same rows (rewards.services.plain_earn); anything else, and a repeat, takes the
    path below.
    """
    if not lines and occurred_at is None and redemption_id is None and points_paid_amount is None:
        result = plain_earn_try(
            shop=shop,
            member_external_id=member_external_id,
            order_id=order_id,
            amount=amount,
            currency=currency,
            request_hash=request_hash,
            as_of=as_of,
        )
        if result is not None:
            return result
    return write_or_replay(
        lambda: _purchase_record(
            shop=shop,
            member_external_id=member_external_id,
            order_id=order_id,
            amount=amount,
            currency=currency,
            occurred_at=occurred_at,
            lines=lines,
            request_hash=request_hash,
            as_of=as_of,
            redemption_id=redemption_id,
            points_paid_amount=points_paid_amount,
        ),
        find_existing=lambda: Purchase.objects.filter(shop=shop, order_id=order_id).first(),
        request_hash=request_hash,
    )


@durable_write(pipelined=True)
def _purchase_record(**fields) -> WriteResult:
    return purchase_write(**fields)


def purchase_write(
    *,
    shop,
    member_external_id,
    order_id,
    amount,
    currency,
    occurred_at,
    lines,
    request_hash,
    as_of,
    redemption_id=None,
    points_paid_amount: Decimal | None = None,
) -> WriteResult:
    """The body of `purchase_record`, inside the caller's transaction: the bulk history
    import (rewards.services.bulk_import) runs it for many rows in one transaction."""
    as_of = as_of or timezone.now()
    occurred_at = occurred_at or as_of
    # One round trip for the member's lock and the program (and, pipelined, the numbers of
    # the purchase, its entry and its lot); the two reads when the member is unknown or the
    # program row not made yet (they raise or create as they do).
    member, program = member_lock_with_program(
        member_external_id, reserve=(Purchase, LedgerEntry, PointLot)
    )
    if member is None:
        program = program_for_purchase_get()
        _currency_check(program, currency)  # before MemberNotFound, as always
        member = member_lock_by_external_id(member_external_id)
    else:
        _currency_check(program, currency)
    if member.status != Member.Status.ACTIVE:
        replay = replay_or_none(
            Purchase.objects.filter(shop=shop, order_id=order_id).first(), request_hash
        )
        if replay:
            return replay
        raise MemberNotActive()

    points_paid = points_paid_amount_get(
        member=member,
        redemption_id=redemption_id,
        points_paid_amount=points_paid_amount,
        amount=amount,
    )
    plan = _earn_plan(
        program=program,
        member=member,
        shop=shop,
        amount=amount,
        lines=lines,
        occurred_at=occurred_at,
        as_of=as_of,
        points_paid_amount=points_paid,
    )
    calculation = earn_budgets_take(plan.calculation)
    available_at = plan.available_at
    already_expired, is_pending = plan.already_expired, plan.is_pending
    points = calculation.points
    purchase = _purchase_insert.build(
        shop=shop,
        member=member,
        order_id=order_id,
        amount=amount,
        currency=currency,
        occurred_at=occurred_at,
        created_at=as_of,
        points_earned=points,
        not_earning_amount=calculation.not_earning_amount,
        points_paid_amount=points_paid,
        request_hash=request_hash,
        response={},
    )
    # Pipelined, with its number reserved, and when nothing this write reads counts
    # purchases (tiers qualify on them, milestones count them): the purchase is inserted
    # last, with its response, instead of an UPDATE after the fact (issue 18). Its
    # entry, lot and awards come first, which PostgreSQL's deferred foreign keys allow.
    purchase.pk = reserved_id(Purchase)
    insert_last = purchase.pk is not None and not plan.tiers and not program.has_milestones
    if not insert_last:
        _purchase_insert.insert(purchase)
    if lines:
        PurchaseLine.objects.bulk_create(
            PurchaseLine(
                purchase=purchase,
                sku=line.sku,
                category=line.category,
                quantity=line.quantity,
                unit_price=line.unit_price,
            )
            for line in lines
        )
    actor = Actor.for_shop(shop)
    if inactivity_counts(program, redemption=False):
        expiry_inactivity_extend(member, program=program, activity_at=occurred_at, as_of=as_of)
    if points:
        entry = entry_write(
            member,
            kind=Kind.EARN,
            actor=actor,
            as_of=as_of,
            effective_at=occurred_at,
            points=points,
            words=ledger_words.earned(
                points=points, order_id=order_id, amount=amount, currency=currency
            ),
            reference=f"order:{order_id}",
            purchase=purchase,
        )
        lot = lot_create(
            member,
            entry=entry,
            points=points,
            program=program,
            earned_at=occurred_at,
            available_at=available_at,
            as_of=as_of,
            purchase=purchase,
        )
        member.lifetime_earned += points
        local_date = occurred_at.astimezone(program.tz).date()
        _award_insert.insert_all(
            earn_awards_build(
                entry=entry,
                purchase=purchase,
                calculation=calculation,
                awarded_at=as_of,
                local_date=local_date,
            )
        )
        if already_expired:
            lots_expire(member, lots=[lot], as_of=as_of, actor=actor)
        elif member.points_owed and not is_pending:
            owed_settle(member, lots=[lot], as_of=as_of, actor=actor)
    tier_outcome = tier_upgrade_check(
        member, program=program, as_of=as_of, tiers=plan.tiers, state=plan.tier_state
    )
    milestones = (
        milestones_award(member, program=program, moment=occurred_at, as_of=as_of, actor=actor)
        if program.has_milestones
        else []
    )
    balance_save(member)
    purchase.response = {
        "order_id": order_id,
        "points_earned": points,
        "points_pending": points if is_pending else 0,
        "items": [item.as_dict() for item in calculation.items],
        "balance": member.points_available,
        "tier": tier_outcome.tier.name if tier_outcome.tier else None,
        "tier_changed": tier_outcome.change is not None,
        "milestones_reached": [award.milestone.name for award in milestones],
        **excluded_response(calculation, currency=currency),
    }
    if insert_last:
        _purchase_insert.insert(purchase)
    else:
        _response_update.run(purchase.pk, [purchase.response])
    return WriteResult(record=purchase, replayed=False)


# The stored response, written after everything it reports (issue 18: built once).
_response_update = RowUpdate(Purchase, ["response"])
_purchase_insert = RowInsert(Purchase)
_award_insert = RowInsert(EarnAward)


def purchase_preview(
    *,
    shop: Shop,
    member_external_id: str,
    amount: Decimal,
    currency: str,
    occurred_at: datetime | None,
    lines: list[LineInput],
    as_of: datetime | None = None,
    redemption_id=None,
    points_paid_amount: Decimal | None = None,
) -> dict:
    """The itemized points this purchase would earn if it were recorded now. Writes
    nothing. Computed by the same function as `purchase_record` on the same data, so the
    two agree (a budget is shown as it is now; the real earn takes it). Raises
    CurrencyNotAccepted, MemberNotFound, MemberNotActive, RedemptionNotFound."""
    as_of = as_of or timezone.now()
    occurred_at = occurred_at or as_of
    program = program_for_purchase_get()
    _currency_check(program, currency)
    member = member_get(external_id=member_external_id)
    i18n.speak_to(member)
    if member.status != Member.Status.ACTIVE:
        raise MemberNotActive()
    plan = _earn_plan(
        program=program,
        member=member,
        shop=shop,
        amount=amount,
        lines=lines,
        occurred_at=occurred_at,
        as_of=as_of,
        points_paid_amount=points_paid_amount_get(
            member=member,
            redemption_id=redemption_id,
            points_paid_amount=points_paid_amount,
            amount=amount,
        ),
    )
    points = plan.calculation.points
    return {
        "points_earned": points,
        "points_pending": points if plan.is_pending else 0,
        "items": [item.as_dict() for item in plan.calculation.items],
        "tier": plan.tier.name if plan.tier else None,
        **excluded_response(plan.calculation, currency=currency),
    }


def excluded_response(calculation: EarnCalculation, *, currency: str) -> dict:
    """The `excluded` list of a purchase response or preview: each line that earns nothing
    or that a rule left out, with why. Absent when nothing is excluded, so the responses
    of programs without exclusions are as they were."""
    if not calculation.excluded:
        return {}
    places = minor_units(currency)
    return {"excluded": [line.as_dict(places=places) for line in calculation.excluded]}


def refund_record(
    *,
    shop: Shop,
    order_id: str,
    refund_id: str,
    amount: Decimal,
    request_hash: str,
    as_of: datetime | None = None,
) -> WriteResult:
    """Refund part or all of a purchase and take back the points earned on that share.

    Points reversed so far are floor(points_earned × refunded / amount), computed on the
    running total so that refunds in parts reverse exactly what one full refund would.
    They come first from the purchase's own lot, then from the member's other available
    lots in spending order; what is already spent becomes points owed, settled from later
    earnings. Idempotent by (shop, refund_id). Raises PurchaseNotFound,
    RefundExceedsPurchase, IdempotencyConflict.
    """
    return write_or_replay(
        lambda: _refund_record(
            shop=shop,
            order_id=order_id,
            refund_id=refund_id,
            amount=amount,
            request_hash=request_hash,
            as_of=as_of,
        ),
        find_existing=lambda: Refund.objects.filter(shop=shop, refund_id=refund_id).first(),
        request_hash=request_hash,
    )


@durable_write
def _refund_record(*, shop, order_id, refund_id, amount, request_hash, as_of) -> WriteResult:
    as_of = as_of or timezone.now()
    member_id = (
        Purchase.objects.filter(shop=shop, order_id=order_id)
        .values_list("member_id", flat=True)
        .first()
    )
    if member_id is None:
        raise PurchaseNotFound()
    member = member_lock(member_id=member_id)
    replay = replay_or_none(
        Refund.objects.filter(shop=shop, refund_id=refund_id).first(), request_hash
    )
    if replay:
        return replay

    purchase = Purchase.objects.get(shop=shop, order_id=order_id)
    if purchase.member_id != member.pk:
        # A merge moved this purchase to another member while we waited for the lock.
        member = member_lock(member_id=purchase.member_id)
    refundable = purchase.amount - purchase.refunded_amount
    if amount > refundable:
        raise RefundExceedsPurchase(
            gettext("Only %(amount)s of this purchase is left to refund.")
            % {"amount": money_format(refundable, purchase.currency)},
            extra={"refundable": f"{refundable.normalize():f}"},
        )
    refunded_total = purchase.refunded_amount + amount
    reversed_total = int(
        (purchase.points_earned * refunded_total / purchase.amount).to_integral_value(
            rounding=ROUND_FLOOR
        )
    )
    to_reverse = reversed_total - purchase.points_reversed

    actor = Actor.for_shop(shop)
    lots = member_catch_up(member, as_of=as_of, actor=actor) if to_reverse else []
    own = [lot for lot in lots if lot.purchase_id == purchase.pk]
    others = [lot for lot in spendable(lots) if lot.purchase_id != purchase.pk]
    plan = lots_plan(own + others, to_reverse)
    taken = sum(points for _, points in plan)
    owed = to_reverse - taken

    refund = Refund.objects.create(
        shop=shop,
        purchase=purchase,
        refund_id=refund_id,
        amount=amount,
        points_reversed=to_reverse,
        points_owed=owed,
        created_at=as_of,
        request_hash=request_hash,
        response={},
    )
    if to_reverse:
        entry = entry_write(
            member,
            kind=Kind.REFUND,
            actor=actor,
            as_of=as_of,
            points=-taken,
            owed_change=owed,
            words=ledger_words.refunded(
                points=to_reverse,
                amount=amount,
                currency=purchase.currency,
                order_id=order_id,
                owed=owed,
            ),
            reference=f"refund:{refund_id}",
            purchase=purchase,
            refund=refund,
        )
        lots_move(member, entry=entry, plan=plan, sign=-1)
        member.lifetime_earned -= to_reverse
        balance_save(member)

    purchase.refunded_amount = refunded_total
    purchase.points_reversed = reversed_total
    purchase.save(update_fields=["refunded_amount", "points_reversed"])
    refund.response = {
        "refund_id": refund_id,
        "order_id": order_id,
        "amount": money_str(amount, purchase.currency),
        "points_reversed": to_reverse,
        "points_owed": owed,
        "balance": member.points_available,
        "owed": member.points_owed,
    }
    refund.save(update_fields=["response"])
    return WriteResult(record=refund, replayed=False)
