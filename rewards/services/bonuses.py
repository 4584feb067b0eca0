"""Bonus points outside purchases: sign-up, birthday and milestone bonuses.

Each bonus is one `bonus` ledger entry with its own lot (available at once, expiring by the
program's policy) and one `EarnAward` that names the rule or milestone that gave it.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from loyalty_engine.db import durable_write
from members.models import Member, Shop
from rewards import ledger_words
from rewards.models import EarnAward, EarnRule, LedgerEntry, Milestone, Program, Tier
from rewards.segments import member_segments_attach, segments_flag
from rewards.selectors import program_get
from rewards.services.earning import rule_applies_to
from rewards.services.ledger import (
    Actor,
    balance_save,
    entry_write,
    lot_create,
    member_lock,
    owed_settle,
)

# A birthday bonus missed by the nightly job (a night without a run) is still given up to
# this many days after the birthday, never later.
BIRTHDAY_CATCH_UP = timedelta(days=7)


@dataclass(frozen=True)
class BonusWords:
    """What a bonus gives and how its ledger entry and award say it, written once for the
    services and the bulk import alike."""

    points: int
    words: ledger_words.Words  # the ledger entry's
    description: str  # the award's
    reference: str


def signup_bonus_words(rule: EarnRule) -> BonusWords:
    points = rule.bonus_points
    return BonusWords(
        points=points,
        words=ledger_words.signup_bonus(points=points, rule=rule),
        description=gettext("+%(points)s for joining") % {"points": points},
        reference=f"rule:{rule.pk}",
    )


def birthday_bonus_words(rule: EarnRule) -> BonusWords:
    points = rule.bonus_points
    return BonusWords(
        points=points,
        words=ledger_words.birthday_bonus(points=points, rule=rule),
        description=gettext("+%(points)s on your birthday") % {"points": points},
        reference=f"rule:{rule.pk}",
    )


def milestone_bonus_words(milestone: Milestone) -> BonusWords:
    points = milestone.bonus_points
    return BonusWords(
        points=points,
        words=ledger_words.milestone_bonus(points=points, milestone=milestone),
        description=gettext("+%(points)s for reaching %(milestone)s")
        % {"points": points, "milestone": milestone.name},
        reference=f"milestone:{milestone.pk}",
    )


def bonus_award(
    member: Member,
    *,
    program: Program,
    words: BonusWords,
    as_of: datetime,
    actor: Actor,
    source: str,
    rule: EarnRule | None = None,
    milestone: Milestone | None = None,
) -> LedgerEntry:
    """Credit bonus points in a new lot, inside the caller's transaction with the member
    locked. Points the member owes from refunds are settled from it first. The caller saves
    the balance."""
    points = words.points
    entry = entry_write(
        member,
        kind=LedgerEntry.Kind.BONUS,
        actor=actor,
        as_of=as_of,
        points=points,
        words=words.words,
        reference=words.reference,
    )
    lot = lot_create(
        member,
        entry=entry,
        points=points,
        program=program,
        earned_at=as_of,
        available_at=as_of,
        as_of=as_of,
    )
    member.lifetime_earned += points
    EarnAward.objects.create(
        member=member,
        entry=entry,
        source=source,
        rule=rule,
        milestone=milestone,
        description=words.description,
        points=points,
        awarded_at=as_of,
        local_date=as_of.astimezone(program.tz).date(),
    )
    if member.points_owed:
        owed_settle(member, lots=[lot], as_of=as_of, actor=actor)
    return entry


def rule_for_bonus(
    kind: str, *, at: datetime, shop: Shop | None, tier: Tier | None, member: Member | None = None
) -> EarnRule | None:
    """The one active rule of a bonus kind that applies: highest priority, then the larger
    bonus, then the oldest. A rule limited to segments applies to the member's segments."""
    rules = list(
        segments_flag(
            EarnRule.objects.filter(is_active=True, kind=kind)
            .filter(Q(starts_at__isnull=True) | Q(starts_at__lte=at))
            .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=at))
            .prefetch_related("shops", "tiers")
        )
    )
    member_segments_attach(rules, member=member)
    return bonus_rule_pick(rules, at=at, shop=shop, tier=tier)


def bonus_rule_pick(
    rules, *, at: datetime, shop: Shop | None, tier: Tier | None
) -> EarnRule | None:
    """Of active rules of one bonus kind (shops and tiers prefetched), the one that applies
    at `at`: pure, so a bulk import can load the rules once for many members."""
    rules = [
        rule
        for rule in rules
        if rule.is_open_at(at) and rule_applies_to(rule, shop=shop, tier=tier) and rule.bonus_points
    ]
    if not rules:
        return None
    return min(rules, key=lambda rule: (-rule.priority, -rule.bonus_points, rule.pk))


def signup_bonus_award(
    member: Member, *, program: Program, shop: Shop | None, tier: Tier | None, as_of: datetime
) -> LedgerEntry | None:
    rule = rule_for_bonus(EarnRule.Kind.SIGNUP_BONUS, at=as_of, shop=shop, tier=tier, member=member)
    if rule is None:
        return None
    return bonus_award(
        member,
        program=program,
        words=signup_bonus_words(rule),
        as_of=as_of,
        actor=Actor.for_shop(shop) if shop else Actor.system(),
        source=EarnAward.Source.RULE,
        rule=rule,
    )


def birthday_in(year: int, birth_date: date) -> date:
    """The birthday in a given year; 29 February falls on 28 February in other years."""
    if birth_date.month == 2 and birth_date.day == 29:
        try:
            return date(year, 2, 29)
        except ValueError:
            return date(year, 2, 28)
    return birth_date.replace(year=year)


def birthday_bonus_award(*, member_id: int, as_of: datetime | None = None) -> LedgerEntry | None:
    """The birthday bonus, once per member per calendar year of the program's time zone,
    given on the birthday (or up to BIRTHDAY_CATCH_UP later, if a night was missed).
    Idempotent: a second run the same year gives nothing."""
    return _birthday_bonus_award(member_id=member_id, as_of=as_of or timezone.now())


def member_birthday_nightly_award(*, member_id: int, as_of: datetime) -> Counter:
    """The nightly `birthdays` job for one member (rewards/jobs.py): what changed, as counts."""
    entry = birthday_bonus_award(member_id=member_id, as_of=as_of)
    if entry is None:
        return Counter()
    return Counter(birthday_bonuses=1, points_birthday=entry.points)


@durable_write
def _birthday_bonus_award(*, member_id: int, as_of: datetime) -> LedgerEntry | None:
    from rewards.services.milestones import milestones_award
    from rewards.services.tiers import member_tier_get

    member = member_lock(member_id=member_id)
    if member.status != Member.Status.ACTIVE or member.birth_date is None:
        return None
    program = program_get()
    today = as_of.astimezone(program.tz).date()
    birthday = birthday_in(today.year, member.birth_date)
    if not birthday <= today < birthday + BIRTHDAY_CATCH_UP:
        return None
    already = EarnAward.objects.filter(
        member=member, rule__kind=EarnRule.Kind.BIRTHDAY_BONUS, local_date__year=today.year
    ).exists()
    if already:
        return None
    rule = rule_for_bonus(
        EarnRule.Kind.BIRTHDAY_BONUS,
        at=as_of,
        shop=None,
        tier=member_tier_get(member=member),
        member=member,
    )
    if rule is None:
        return None
    entry = bonus_award(
        member,
        program=program,
        words=birthday_bonus_words(rule),
        as_of=as_of,
        actor=Actor.system(),
        source=EarnAward.Source.RULE,
        rule=rule,
    )
    milestones_award(member, program=program, moment=as_of, as_of=as_of, actor=Actor.system())
    balance_save(member)
    return entry
