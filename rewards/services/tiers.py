"""Tiers: qualifying on purchases, moving up at once, moving down slowly.

- A member's qualifying value is what their purchases in the rolling tier window earned
  (points, by `Program.tier_basis`) or cost (spend), net of refunds. The balance never
  counts, and neither do bonuses outside purchases (sign-up, birthday, milestones) nor
  manual adjustments.
- A purchase that lifts the qualifying value to a higher tier's threshold moves the member
  up at once; that purchase itself still earns at the tier the member had before it.
- Only the nightly evaluation moves a member down: once the member has been below their
  tier's threshold for the grace period, one tier per evaluation, never below the tier
  they qualify for nor below a tier staff pinned as their floor.
- Every change is a `TierChange` with its reason and time.
"""

import calendar
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Case, DecimalField, ExpressionWrapper, F, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from loyalty_engine.db import durable_write
from loyalty_engine.events.outbox import event_emit, event_tier_known
from members.models import Member
from rewards.models import MemberTier, Program, Purchase, Tier, TierBasis, TierChange
from rewards.selectors import program_get
from rewards.services.ledger import member_lock

Reason = TierChange.Reason


def months_shift(moment: datetime, months: int, tz) -> datetime:
    """The same wall-clock time `months` later (or earlier, if negative) in `tz`, on the
    last day of the month when the month is shorter."""
    local = moment.astimezone(tz)
    index = local.year * 12 + local.month - 1 + months
    year, month = divmod(index, 12)
    day = min(local.day, calendar.monthrange(year, month + 1)[1])
    return local.replace(year=year, month=month + 1, day=day)


def tier_window_start(*, program: Program, as_of: datetime) -> datetime:
    return months_shift(as_of, -program.tier_window_months, program.tz)


_MONEY = DecimalField(max_digits=18, decimal_places=4)


def qualifying_spend():
    """What a purchase's money counts for tiers: its amount net of refunds, less the part
    that earns nothing (excluded lines, the part paid with points: rewards.services.
    exclusions), refunds taken from both parts in proportion, as the points are."""
    net = F("amount") - F("refunded_amount")
    return Case(
        When(not_earning_amount=0, then=net),
        default=ExpressionWrapper(
            net * (F("amount") - F("not_earning_amount")) / F("amount"), output_field=_MONEY
        ),
        output_field=_MONEY,
    )


def _qualifying_purchases(*, program: Program, as_of: datetime):
    """The purchases in (as_of − window, as_of] and what each counts for tiers, net of
    refunds: one definition for one member and for a batch."""
    purchases = Purchase.objects.filter(
        occurred_at__gt=tier_window_start(program=program, as_of=as_of),
        occurred_at__lte=as_of,
    )
    if program.tier_basis == TierBasis.SPEND:
        value = qualifying_spend()
    else:
        value = F("points_earned") - F("points_reversed")
    return purchases, value


def qualifying_value_get(*, member: Member, program: Program, as_of: datetime) -> Decimal:
    """Points earned or money spent on purchases in (as_of − window, as_of], net of refunds."""
    purchases, value = _qualifying_purchases(program=program, as_of=as_of)
    total = purchases.filter(member=member).aggregate(
        total=Coalesce(Sum(value), Value(0), output_field=_MONEY)
    )
    return Decimal(total["total"])


def _qualifying_values_get(
    *, member_ids: list[int], program: Program, as_of: datetime
) -> dict[int, Decimal]:
    """qualifying_value_get for many members in one query; members without purchases in
    the window are absent (their value is 0)."""
    purchases, value = _qualifying_purchases(program=program, as_of=as_of)
    rows = (
        purchases.filter(member_id__in=member_ids)
        .values("member_id")
        .annotate(total=Coalesce(Sum(value), Value(0), output_field=_MONEY))
        .order_by()
        .values_list("member_id", "total")
    )
    return {member_id: Decimal(total) for member_id, total in rows}


def tiers_list() -> list[Tier]:
    return list(Tier.objects.order_by("rank"))


def tier_for_value(tiers: list[Tier], value: Decimal) -> Tier | None:
    """The highest tier whose threshold the value reaches."""
    qualified = None
    for tier in tiers:
        if tier.threshold <= value:
            qualified = tier
    return qualified


def _rank(tier: Tier | None) -> int:
    return tier.rank if tier else 0


def _higher(a: Tier | None, b: Tier | None) -> Tier | None:
    return a if _rank(a) >= _rank(b) else b


def member_tier_get(*, member: Member, tiers: list[Tier] | None = None) -> Tier | None:
    """The member's tier: the stored one, or the entry tier (threshold 0) for a member the
    engine has not placed yet."""
    tiers = tiers if tiers is not None else tiers_list()
    if not tiers:
        return None  # no tier configured: no state to read
    state = MemberTier.objects.filter(member=member).select_related("tier").first()
    if state is not None:
        return state.tier
    return tier_for_value(tiers, Decimal(0))


def member_tier_state_get(*, member: Member) -> MemberTier | None:
    """The member's stored tier state with its tier and floor; None for a member the engine
    has not placed yet."""
    return MemberTier.objects.filter(member=member).select_related("tier", "floor").first()


def _state_lock(member: Member, tiers: list[Tier]) -> MemberTier:
    """The member's tier state, created with the entry tier on first use. Call with the
    member row locked: the lock serializes every change to it."""
    state = member_tier_state_get(member=member)
    if state is None:
        state = MemberTier.objects.create(member=member, tier=tier_for_value(tiers, Decimal(0)))
    return state


def _change(
    state: MemberTier,
    *,
    to: Tier | None,
    reason: str,
    detail: str,
    value: Decimal,
    as_of: datetime,
    user: AbstractBaseUser | None = None,
) -> TierChange:
    change = TierChange.objects.create(
        member_id=state.member_id,
        from_tier=state.tier,
        to_tier=to,
        reason=reason,
        detail=detail,
        qualifying_value=value,
        changed_at=as_of,
        actor_user=user,
    )
    event_emit(
        type="tier.changed",
        member=state.member_id,
        data={
            "from_tier": state.tier.name if state.tier else None,
            "to_tier": to.name if to else None,
            "direction": "up" if _rank(to) > _rank(state.tier) else "down",
            "reason": reason,
            "detail": detail,
        },
        occurred_at=as_of,
        tier=False,
    )
    event_tier_known(state.member_id, to.name if to else None)
    state.tier = to
    state.changed_at = as_of
    return change


@dataclass(frozen=True)
class TierOutcome:
    tier: Tier | None
    change: TierChange | None


def _describe(program: Program, value: Decimal) -> str:
    if program.tier_basis == TierBasis.SPEND:
        return f"{value.normalize():f} {program.currency} spent"
    return f"{int(value)} points earned"


def tier_upgrade_check(
    member: Member,
    *,
    program: Program,
    as_of: datetime,
    tiers: list[Tier] | None = None,
    state: MemberTier | None = None,
) -> TierOutcome:
    """After a purchase, inside its transaction with the member locked: move the member up
    at once if they now qualify for a higher tier, and end any grace period they were in.
    `tiers` and `state` (`member_tier_state_get`): what the caller already read in this
    transaction under the member lock; a member without a state gets one."""
    tiers = tiers if tiers is not None else tiers_list()
    if not tiers:
        event_tier_known(member, None)
        return TierOutcome(None, None)
    state = state or _state_lock(member, tiers)
    value = qualifying_value_get(member=member, program=program, as_of=as_of)
    qualified = tier_for_value(tiers, value)
    change = None
    if _rank(qualified) > _rank(state.tier):
        window = f"in the last {program.tier_window_months} months"
        change = _change(
            state,
            to=qualified,
            reason=Reason.QUALIFIED,
            detail=f"Reached {qualified.name} with {_describe(program, value)} {window}.",
            value=value,
            as_of=as_of,
        )
    ends_grace = state.below_since is not None and _rank(qualified) >= _rank(state.tier)
    if ends_grace:
        state.below_since = None
    if change or ends_grace:
        state.save()
    event_tier_known(member, state.tier.name if state.tier else None)
    return TierOutcome(state.tier, change)


def member_tier_evaluate(*, member_id: int, as_of: datetime | None = None) -> TierOutcome:
    """The nightly evaluation of one member. Idempotent per as-of: a member evaluated at or
    after `as_of` is left alone, so a rerun of the same night changes nothing."""
    return _member_tier_evaluate(member_id=member_id, as_of=as_of or timezone.now())


def member_tier_nightly_evaluate(*, member_id: int, as_of: datetime) -> Counter:
    """The nightly `tiers` job for one member (rewards/jobs.py): what changed, as counts."""
    outcome = member_tier_evaluate(member_id=member_id, as_of=as_of)
    if outcome.change is None:
        return Counter()
    return Counter({f"tier_{outcome.change.reason}": 1})


@durable_write
def members_tier_nightly_evaluate(
    *, member_ids: list[int], as_of: datetime
) -> tuple[Counter, list[int]]:
    """Do for a batch of members, in one transaction and a constant number of queries,
    what `member_tier_nightly_evaluate` does for those of them whose tier does not change
    tonight, as the evaluation itself would store it, with no TierChange:
    - a member who keeps their tier (the higher of what they qualify for and their floor)
      gets `evaluated_at = as_of`, and `below_since` cleared if a grace period was running;
    - a member below their tier whose grace period does not end tonight gets
      `evaluated_at = as_of`, and `below_since = as_of` if the grace period starts tonight;
    - a member without a tier state who stays in the entry tier gets a state in it,
      evaluated at `as_of`.

    The members are locked first, in id order (every other writer of tier states locks one
    member at a time), so a purchase cannot move a member up between the read of their
    state and its update. Members evaluated at or after `as_of` are skipped, as the
    evaluation skips them. Those whose tier changes tonight (moving up, or down at the end
    of their grace period) are returned for `member_tier_nightly_evaluate`, one by one.
    Returns empty counts (nothing here changes a tier) and the ids left.
    """
    tiers = tiers_list()
    if not tiers:
        return Counter(), []
    locked = list(
        Member.objects.select_for_update()
        .filter(pk__in=member_ids)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    missing = sorted(set(member_ids) - set(locked))
    states = {
        state.member_id: state
        for state in MemberTier.objects.filter(member_id__in=locked).select_related("tier", "floor")
    }
    program = program_get()
    grace = timedelta(days=program.tier_grace_days)
    values = _qualifying_values_get(member_ids=locked, program=program, as_of=as_of)
    entry = tier_for_value(tiers, Decimal(0))
    placed, left = [], missing
    evaluated, grace_over, grace_started = [], [], []  # member ids, by what is stored
    for member_id in locked:
        state = states.get(member_id)
        if state is not None and state.evaluated_at is not None and state.evaluated_at >= as_of:
            continue
        tier, floor = (state.tier, state.floor) if state is not None else (entry, None)
        keeps = _higher(tier_for_value(tiers, values.get(member_id, Decimal(0))), floor)
        if state is None:
            if _rank(keeps) == _rank(entry):
                placed.append(MemberTier(member_id=member_id, tier=entry, evaluated_at=as_of))
            else:
                left.append(member_id)
        elif _rank(keeps) > _rank(tier):
            left.append(member_id)  # moves up
        elif _rank(keeps) == _rank(tier):
            (grace_over if state.below_since else evaluated).append(member_id)
        elif as_of >= (state.below_since or as_of) + grace:
            left.append(member_id)  # moves down
        else:
            (evaluated if state.below_since else grace_started).append(member_id)
    for ids, fields in (
        (evaluated, {}),
        (grace_over, {"below_since": None}),
        (grace_started, {"below_since": as_of}),
    ):
        if ids:
            MemberTier.objects.filter(member_id__in=ids).update(evaluated_at=as_of, **fields)
    if placed:
        MemberTier.objects.bulk_create(placed)
    return Counter(), sorted(left)


@durable_write
def _member_tier_evaluate(*, member_id: int, as_of: datetime) -> TierOutcome:
    member = member_lock(member_id=member_id)
    tiers = tiers_list()
    if not tiers:
        return TierOutcome(None, None)
    state = _state_lock(member, tiers)
    if state.evaluated_at is not None and state.evaluated_at >= as_of:
        return TierOutcome(state.tier, None)
    program = program_get()
    value = qualifying_value_get(member=member, program=program, as_of=as_of)
    qualified = tier_for_value(tiers, value)
    keeps = _higher(qualified, state.floor)
    change = None
    if _rank(keeps) > _rank(state.tier):
        pinned = state.floor is not None and keeps == state.floor and qualified != keeps
        change = _change(
            state,
            to=keeps,
            reason=Reason.PINNED if pinned else Reason.QUALIFIED,
            detail=f"Placed in {keeps.name} with {_describe(program, value)}.",
            value=value,
            as_of=as_of,
        )
        state.below_since = None
    elif _rank(keeps) == _rank(state.tier):
        state.below_since = None
    else:
        state.below_since = state.below_since or as_of
        grace_ends = state.below_since + timedelta(days=program.tier_grace_days)
        if as_of >= grace_ends:
            lower = [t for t in tiers if _rank(keeps) <= t.rank < _rank(state.tier)]
            step = lower[-1] if lower else None
            change = _change(
                state,
                to=step,
                reason=Reason.DOWNGRADE,
                detail=(
                    f"Below the {state.tier.name} threshold since "
                    f"{state.below_since.astimezone(program.tz).date().isoformat()} "
                    f"({_describe(program, value)}); moved down one tier after "
                    f"{program.tier_grace_days} days of grace."
                ),
                value=value,
                as_of=as_of,
            )
            if _rank(keeps) >= _rank(step):
                state.below_since = None
    state.evaluated_at = as_of
    state.save()
    return TierOutcome(state.tier, change)


@durable_write
def member_tier_pin(
    *,
    member: Member,
    floor: Tier | None,
    staff_user: AbstractBaseUser | None = None,
    as_of: datetime | None = None,
) -> TierOutcome:
    """Pin a tier as the member's floor (None removes the pin). A floor above the member's
    tier lifts them to it at once; removing a pin lets the nightly evaluation, with its grace
    period, move them down if they don't qualify."""
    as_of = as_of or timezone.now()
    member = member_lock(member_id=member.pk)
    tiers = tiers_list()
    state = _state_lock(member, tiers)
    program = program_get()
    value = qualifying_value_get(member=member, program=program, as_of=as_of)
    previous = state.floor
    state.floor = floor
    change = None
    if floor is not None and _rank(floor) > _rank(state.tier):
        change = _change(
            state,
            to=floor,
            reason=Reason.PINNED,
            detail=f"Staff pinned {floor.name} as the lowest tier for this member.",
            value=value,
            as_of=as_of,
            user=staff_user,
        )
        state.below_since = None
    elif floor is None and previous is not None:
        change = TierChange.objects.create(
            member=member,
            from_tier=state.tier,
            to_tier=state.tier,
            reason=Reason.UNPINNED,
            detail=f"Staff removed the {previous.name} pin.",
            qualifying_value=value,
            changed_at=as_of,
            actor_user=staff_user,
        )
    state.save()
    return TierOutcome(state.tier, change)


def tier_progress_get(*, member: Member, program: Program, as_of: datetime) -> dict:
    """Where the member stands: their tier, what the next tier needs, and what keeping the
    current one needs (how far below they are, the day old purchases leaving the window will
    take them below if they buy nothing more, and when a running grace period ends)."""
    tiers = tiers_list()
    state = MemberTier.objects.filter(member=member).select_related("tier", "floor").first()
    current = state.tier if state else tier_for_value(tiers, Decimal(0))
    floor = state.floor if state else None
    value = qualifying_value_get(member=member, program=program, as_of=as_of)
    higher = [t for t in tiers if t.rank > _rank(current)]
    next_tier = higher[0] if higher else None

    keep = None
    if current is not None and current.threshold > 0:
        shortfall = max(current.threshold - value, Decimal(0))
        drops_below_on = None
        if not shortfall:
            drops_below_on = _drops_below_on(
                member=member,
                program=program,
                as_of=as_of,
                value=value,
                threshold=current.threshold,
            )
        grace_ends_at = moves_down_to = None
        if shortfall and not (floor and floor.rank >= current.rank):
            below_since = state.below_since if state and state.below_since else as_of
            grace_ends_at = below_since + timedelta(days=program.tier_grace_days)
            lower = [t for t in tiers if t.rank < current.rank]
            moves_down_to = lower[-1] if lower else None
        keep = {
            "threshold": current.threshold,
            "shortfall": shortfall,
            "drops_below_on": drops_below_on,
            "grace_ends_at": grace_ends_at,
            "moves_down_to": moves_down_to,
        }
    return {
        "basis": program.tier_basis,
        "window_months": program.tier_window_months,
        "window_start": tier_window_start(program=program, as_of=as_of),
        "qualifying_value": value,
        "tier": current,
        "floor": floor,
        "next_tier": next_tier,
        "next_needed": max(next_tier.threshold - value, Decimal(0)) if next_tier else None,
        "keep": keep,
        "history": list(
            TierChange.objects.filter(member=member)
            .select_related("from_tier", "to_tier")
            .order_by("-changed_at", "-id")[:20]
        ),
    }


def _drops_below_on(
    *, member: Member, program: Program, as_of: datetime, value: Decimal, threshold: Decimal
) -> datetime | None:
    """When the qualifying value falls below `threshold` if the member buys nothing more:
    the moment the purchase that tips it leaves the rolling window."""
    start = tier_window_start(program=program, as_of=as_of)
    if program.tier_basis == TierBasis.SPEND:
        amount = qualifying_spend()
    else:
        amount = F("points_earned") - F("points_reversed")
    purchases = (
        Purchase.objects.filter(member=member, occurred_at__gt=start, occurred_at__lte=as_of)
        .annotate(value=amount)
        .order_by("occurred_at", "id")
        .values_list("occurred_at", "value")
    )
    remaining = value
    for occurred_at, purchase_value in purchases.iterator():
        remaining -= Decimal(purchase_value)
        if remaining < threshold:
            return months_shift(occurred_at, program.tier_window_months, program.tz)
    return None
