"""The program in plain words, generated from its configuration.

Every sentence here is produced from the same rows the engine computes with (program
settings, tiers, earn rules, milestones and rewards), read fresh on every call, so what
members read can never drift from what the engine does.
"""

from datetime import datetime
from decimal import Decimal

from django.db.models import Q
from django.utils import timezone

from rewards.models import EarnRule, Milestone, Program, Reward, Tier, TierBasis
from rewards.segments import segments_flag
from rewards.services.earning import number

Kind = EarnRule.Kind


def _day(moment: datetime, program: Program) -> str:
    return moment.astimezone(program.tz).date().isoformat()


def window_text(item, program: Program) -> str:
    if item.starts_at and item.ends_at:
        return f"from {_day(item.starts_at, program)} until {_day(item.ends_at, program)}"
    if item.starts_at:
        return f"from {_day(item.starts_at, program)}"
    if item.ends_at:
        return f"until {_day(item.ends_at, program)}"
    return ""


def _names(items) -> str:
    names = [str(item) for item in items]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def rule_explain(rule: EarnRule, program: Program) -> str:
    """One sentence saying what the rule gives, on what, for whom, when and up to how much."""
    currency = program.currency
    targets = _names(rule.target_list) if rule.target_list else "nothing yet"
    text = {
        Kind.CATEGORY_MULTIPLIER: f"×{number(rule.multiplier or 1)} points on {targets}",
        Kind.SKU_MULTIPLIER: f"×{number(rule.multiplier or 1)} points on the products {targets}",
        Kind.CAMPAIGN_MULTIPLIER: f"×{number(rule.multiplier or 1)} points on every purchase",
        Kind.MIN_SPEND_BONUS: f"{rule.bonus_points} bonus points on a purchase of at least "
        f"{number(rule.min_amount or 0)} {currency}",
        Kind.FIRST_PURCHASE_BONUS: f"{rule.bonus_points} bonus points on your first purchase",
        Kind.SIGNUP_BONUS: f"{rule.bonus_points} bonus points when you join",
        Kind.BIRTHDAY_BONUS: f"{rule.bonus_points} bonus points on your birthday, once a year",
    }[rule.kind]
    shops = list(rule.shops.all())
    tiers = list(rule.tiers.all())
    if shops:
        text += f", at {_names(shops)}"
    if tiers:
        text += f", for {_names(tiers)} members"
    if getattr(rule, "has_segments", False):
        # Segment names are staff words ("At risk"); members read no more than this.
        text += ", for selected members"
    if window := window_text(rule, program):
        text += f", {window}"
    caps = [
        f"{cap} points a {label}"
        for cap, label in ((rule.cap_per_day, "day"), (rule.cap_per_month, "month"))
        if cap
    ]
    if rule.cap_total:
        caps.append(f"{rule.cap_total} points in all")
    if caps:
        text += f" (up to {_names(caps)})"
    return text + "."


def _value(program: Program, value: Decimal) -> str:
    if program.tier_basis == TierBasis.SPEND:
        return f"{number(value)} {program.currency} spent"
    return f"{number(value)} points earned"


def tier_explain(tier: Tier, program: Program) -> str:
    text = (
        f"{tier.name}: everyone starts here"
        if tier.threshold == 0
        else f"{tier.name}: {_value(program, tier.threshold)} in "
        f"{program.tier_window_months} months"
    )
    if tier.earn_multiplier > 1:
        text += f"; ×{number(tier.earn_multiplier)} base points"
    return text + "."


def milestone_explain(milestone: Milestone, program: Program) -> str:
    target = number(milestone.target)
    goal = {
        Milestone.Kind.PURCHASE_COUNT: f"make {target} purchases",
        Milestone.Kind.LIFETIME_POINTS: f"earn {target} points in all",
        Milestone.Kind.SPEND: f"spend {target} {program.currency}",
    }[milestone.kind]
    period = {
        Milestone.Period.EVER: "",
        Milestone.Period.YEAR: " in a calendar year",
        Milestone.Period.MONTH: " in a calendar month",
    }[milestone.period]
    gifts = []
    if milestone.bonus_points:
        gifts.append(f"{milestone.bonus_points} bonus points")
    if milestone.reward_id:
        gifts.append(f"a free {milestone.reward.name}")
    again = "" if milestone.period == Milestone.Period.EVER else ", once per period"
    text = f"{milestone.name}: {goal}{period} and get {_names(gifts)}{again}"
    if getattr(milestone, "has_segments", False):
        text += ", for selected members"
    if window := window_text(milestone, program):
        text += f", {window}"
    return text + "."


def _open_now(queryset, now: datetime):
    return queryset.filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))


def program_explain(*, program: Program, now: datetime | None = None) -> dict:
    """The whole program, as structured data with a sentence for each part."""
    now = now or timezone.now()
    currency = program.currency
    rules = list(
        segments_flag(
            _open_now(EarnRule.objects.filter(is_active=True), now).prefetch_related(
                "shops", "tiers"
            )
        )
    )
    tiers = list(Tier.objects.order_by("rank"))
    milestones = list(
        segments_flag(
            _open_now(Milestone.objects.filter(is_active=True), now).select_related("reward")
        )
    )
    rewards = list(segments_flag(_open_now(Reward.objects.filter(is_active=True), now)))

    earning_text = [
        f"You earn {number(program.points_per_unit)} point(s) for every {currency} 1 you "
        "spend, rounded down to whole points once per purchase.",
        *[rule_explain(rule, program) for rule in rules],
    ]
    expiry = (
        "Points never expire."
        if program.expiry_months is None
        else f"Points expire {program.expiry_months} months after you earn them"
        + (", at the end of that month." if program.expiry_at_month_end else ".")
        + " The points that expire soonest are spent first."
    )
    pending = (
        f"Points from a purchase can be spent {program.pending_days} days after it."
        if program.pending_days
        else "Points from a purchase can be spent at once."
    )
    basis = "money spent" if program.tier_basis == TierBasis.SPEND else "points earned"
    tier_rules = (
        f"Your tier follows the {basis} on purchases in "
        f"the last {program.tier_window_months} months, net of refunds; your balance does not "
        "count. You move up as soon as a purchase qualifies you. If you fall below your tier, "
        f"you keep it for {program.tier_grace_days} days, then move down one tier at a time."
    )
    return {
        "name": program.name,
        "currency": currency,
        "earning": {
            "base_rate": f"{number(program.points_per_unit)}",
            "text": earning_text,
            "how_rules_combine": _combining_text(),
            "rules": [
                {
                    "id": rule.pk,
                    "name": rule.name,
                    "kind": rule.kind,
                    "text": rule_explain(rule, program),
                    "description": rule.description,
                    "starts_at": rule.starts_at,
                    "ends_at": rule.ends_at,
                }
                for rule in rules
            ],
        },
        "tiers": {
            "text": tier_rules if tiers else "This program has no tiers.",
            "basis": program.tier_basis,
            "window_months": program.tier_window_months,
            "grace_days": program.tier_grace_days,
            "levels": [
                {
                    "name": tier.name,
                    "rank": tier.rank,
                    "threshold": tier.threshold,
                    "earn_multiplier": tier.earn_multiplier,
                    "benefits": tier.benefit_list,
                    "text": tier_explain(tier, program),
                }
                for tier in tiers
            ],
        },
        "milestones": [
            {"id": m.pk, "name": m.name, "text": milestone_explain(m, program)} for m in milestones
        ],
        "expiry": {"text": [expiry, pending]},
        "redeeming": {
            "text": [
                f"Each point is worth {number(program.point_value)} {currency} off a purchase.",
                "Or exchange points for a reward from the catalog and get a voucher to use at "
                "the till. Cancelling an unused voucher gives its points back.",
                *(
                    ["Some rewards are offered to selected members only."]
                    if any(r.has_segments for r in rewards)
                    else []
                ),
            ],
            "point_value": program.point_value,
            "rewards": [
                {
                    "id": r.pk,
                    "name": r.name,
                    "points_cost": r.points_cost,
                    "for_selected_members": r.has_segments,
                }
                for r in rewards
            ],
        },
    }


def _combining_text() -> list[str]:
    """The combination policy, in the words of `rewards.services.earning`."""
    return [
        "Multipliers add up rather than multiply: each adds its extra share of the base "
        "points, so ×2 on coffee and a ×1.5 tier on a coffee give 1 + 1 + 0.5 = 2.5 times "
        "the base points.",
        "Bonuses are added as they are and are never multiplied.",
        "When several rules of the same kind apply, only one counts: the one with the "
        "highest priority, then the larger reward.",
        "Points are rounded down once, on the total of the purchase.",
    ]
