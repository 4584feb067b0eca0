"""Milestones: goals such as a 10th purchase, 1,000 lifetime points or 5,000 spent in a
calendar year, each awarded once (or once per period).

Progress counts purchases that are not fully refunded, and spend net of refunds, by the
purchase's own date in the program's time zone; lifetime points are `lifetime_earned`.
A milestone is checked after every purchase and bonus, under the member's row lock, and a
unique key on (member, milestone, period) makes a second award impossible even if two
purchases race. Reaching a milestone is never taken back by a later refund.
"""

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, DecimalField, F, Q, Sum, Value
from django.db.models.functions import Coalesce

from loyalty_engine.events.outbox import event_emit
from members.models import Member
from rewards.errors import RewardOutOfStock
from rewards.models import EarnAward, Milestone, MilestoneAward, Program, Purchase
from rewards.selectors import milestone_open_list
from rewards.services.bonuses import bonus_award, milestone_bonus_words
from rewards.services.catalog import voucher_issue
from rewards.services.ledger import Actor

logger = logging.getLogger(__name__)

Kind = Milestone.Kind
Period = Milestone.Period


def period_bounds(period: str, moment: datetime, program: Program):
    """The period's key and its [start, end) in the program's time zone (None: all time)."""
    local = moment.astimezone(program.tz)
    if period == Period.YEAR:
        start = local.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
        return str(local.year), start, start.replace(year=local.year + 1)
    if period == Period.MONTH:
        start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = (
            start.replace(year=local.year + 1, month=1)
            if local.month == 12
            else start.replace(month=local.month + 1)
        )
        return f"{local.year}-{local.month:02d}", start, end
    return "ever", None, None


@dataclass(frozen=True)
class MilestoneProgress:
    milestone: Milestone
    period_key: str
    value: Decimal
    reached: bool

    @property
    def remaining(self) -> Decimal:
        return max(self.milestone.target - self.value, Decimal(0))


def _purchase_totals(member: Member, start, end) -> tuple[int, Decimal]:
    purchases = Purchase.objects.filter(member=member)
    if start is not None:
        purchases = purchases.filter(occurred_at__gte=start, occurred_at__lt=end)
    money = DecimalField(max_digits=18, decimal_places=4)
    totals = purchases.aggregate(
        count=Count("pk", filter=Q(refunded_amount__lt=F("amount"))),
        spend=Coalesce(Sum(F("amount") - F("refunded_amount")), Value(0), output_field=money),
    )
    return totals["count"], Decimal(totals["spend"])


def milestones_progress(
    *, member: Member, program: Program, moment: datetime, milestones: list[Milestone] | None = None
) -> list[MilestoneProgress]:
    """Progress toward each active milestone open at `moment`, in the period holding it."""
    if milestones is None:
        milestones = milestones_open(moment, member=member)
    keys = {m.pk: period_bounds(m.period, moment, program) for m in milestones}
    reached = set(
        MilestoneAward.objects.filter(
            member=member, milestone__in=milestones, period_key__in={k for k, _, _ in keys.values()}
        ).values_list("milestone_id", "period_key")
    )
    totals: dict[tuple, tuple[int, Decimal]] = {}
    progress = []
    for milestone in milestones:
        key, start, end = keys[milestone.pk]
        if milestone.kind == Kind.LIFETIME_POINTS:
            value = Decimal(member.lifetime_earned)
        else:
            if (start, end) not in totals:
                totals[(start, end)] = _purchase_totals(member, start, end)
            count, spend = totals[(start, end)]
            value = Decimal(count) if milestone.kind == Kind.PURCHASE_COUNT else spend
        progress.append(
            MilestoneProgress(
                milestone=milestone,
                period_key=key,
                value=value,
                reached=(milestone.pk, key) in reached,
            )
        )
    return progress


def milestones_open(moment: datetime, *, member: Member | None = None) -> list[Milestone]:
    """Active milestones open at `moment`; those limited to segments only if the member is
    in one of them (rewards.segments)."""
    return list(milestone_open_list(member=member, moment=moment))


def milestones_award(
    member: Member, *, program: Program, moment: datetime, as_of: datetime, actor: Actor
) -> list[MilestoneAward]:
    """Award every milestone the member has just reached, inside the caller's transaction
    with the member locked. `moment` picks the period (a purchase's own date); `as_of` is
    when the award is written. A bonus can lift lifetime points over another milestone, so
    this repeats until nothing new is reached. The caller saves the balance."""
    milestones = milestones_open(moment, member=member)
    awards: list[MilestoneAward] = []
    for _ in range(len(milestones)):
        reached_now = [
            p
            for p in milestones_progress(
                member=member, program=program, moment=moment, milestones=milestones
            )
            if not p.reached and p.value >= p.milestone.target
        ]
        if not reached_now:
            break
        for progress in reached_now:
            awards.append(_award(member, progress, program=program, as_of=as_of, actor=actor))
    return awards


def _award(
    member: Member, progress: MilestoneProgress, *, program: Program, as_of: datetime, actor: Actor
) -> MilestoneAward:
    milestone = progress.milestone
    entry = None
    if milestone.bonus_points:
        entry = bonus_award(
            member,
            program=program,
            words=milestone_bonus_words(milestone),
            as_of=as_of,
            actor=actor,
            source=EarnAward.Source.MILESTONE,
            milestone=milestone,
        )
    voucher = None
    if milestone.reward_id:
        try:
            voucher = voucher_issue(member, reward=milestone.reward, as_of=as_of)
        except RewardOutOfStock:
            # The milestone is still reached (and its bonus given); the award records that
            # no voucher could be issued, for staff to make good.
            logger.warning("Milestone %s reached with %s out of stock", milestone, milestone.reward)
    award = MilestoneAward.objects.create(
        member=member,
        milestone=milestone,
        period_key=progress.period_key,
        awarded_at=as_of,
        entry=entry,
        voucher=voucher,
    )
    event_emit(
        type="milestone.reached",
        member=member,
        data={
            "milestone": milestone.name,
            "period": progress.period_key,
            "bonus_points": entry.points if entry else 0,
            "voucher_code": voucher.code if voucher else None,
        },
        occurred_at=as_of,
    )
    return award
