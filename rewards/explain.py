"""The program in plain words, generated from its configuration.

Every sentence here is produced from the same rows the engine computes with (program
settings, tiers, earn rules, milestones and rewards), read fresh on every call, so what
members read can never drift from what the engine does.
"""

from datetime import datetime
from decimal import Decimal

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from rewards.models import (
    ActivityType,
    EarnRule,
    ExpiryPolicy,
    Milestone,
    Program,
    Reward,
    Tier,
    TierBasis,
)
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
    left_out = [*rule.excluded_sku_list, *rule.excluded_category_list]
    if left_out:
        text += _("; not on %(codes)s") % {"codes": _names(left_out)}
    if rule.budget_points is not None:
        text += _(", while its budget of %(budget)s points lasts") % {"budget": rule.budget_points}
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
    if window := window_text(milestone, program):
        text += f", {window}"
    return text + "."


def activity_explain(activity_type: ActivityType) -> str:
    caps = [
        f"{count} time(s) {period}"
        for count, period in (
            (activity_type.cap_per_day, "a day"),
            (activity_type.cap_per_month, "a month"),
            (activity_type.cap_total, "in all"),
        )
        if count is not None
    ]
    text = f"{activity_type.points} points for {activity_type.name}"
    if activity_type.earns_on_feedback:
        text += " (answering our survey counts)"
    return text + (f", up to {_names(caps)}." if caps else ".")


def referral_explain(program: Program) -> str:
    if not (program.referral_referrer_points or program.referral_referred_points):
        return ""
    text = (
        "Refer a friend with your code: once their first purchase can be spent, you get "
        f"{program.referral_referrer_points} points and they get "
        f"{program.referral_referred_points}"
    )
    if program.referral_cap_per_year is not None:
        text += f", for up to {program.referral_cap_per_year} friends a year"
    return text + "."


def _open_now(queryset, now: datetime):
    return queryset.filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))


def program_explain(*, program: Program, now: datetime | None = None) -> dict:
    """The whole program, as structured data with a sentence for each part."""
    now = now or timezone.now()
    currency = program.currency
    rules = list(
        _open_now(EarnRule.objects.filter(is_active=True), now).prefetch_related("shops", "tiers")
    )
    tiers = list(Tier.objects.order_by("rank"))
    milestones = list(
        _open_now(Milestone.objects.filter(is_active=True), now).select_related("reward")
    )
    rewards = list(_open_now(Reward.objects.filter(is_active=True), now))

    activity_types = list(ActivityType.objects.filter(is_active=True).order_by("key"))
    earning_text = [
        f"You earn {number(program.points_per_unit)} point(s) for every {currency} 1 you "
        "spend, rounded down to whole points once per purchase.",
        *[rule_explain(rule, program) for rule in rules],
        *[activity_explain(activity_type) for activity_type in activity_types],
    ]
    if text := referral_explain(program):
        earning_text.append(text)
    expiry = expiry_explain(program)
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
            "not_earning": not_earning_explain(program),
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
        "expiry": {
            "policy": program.expiry_policy,
            "text": [expiry, pending],
            **expiry_settings(program),
        },
        "redeeming": {
            "text": [
                f"Each point is worth {number(program.point_value)} {currency} off a purchase.",
                "Or exchange points for a reward from the catalog and get a voucher to use at "
                "the till. Cancelling an unused voucher gives its points back.",
                *checkout_explain(program),
            ],
            "point_value": program.point_value,
            "max_points_share_percent": (
                number(program.max_points_share) if program.max_points_share is not None else None
            ),
            "min_points": program.min_points_per_redemption,
            "step_points": program.redemption_step_points,
            "rewards": [
                {"id": r.pk, "name": r.name, "points_cost": r.points_cost} for r in rewards
            ],
        },
    }


def expiry_explain(program: Program) -> str:
    """The expiry policy in one sentence, from the settings the engine computes with
    (rewards.services.expiry)."""
    soonest = _(" The points that expire soonest are spent first.")
    policy = program.expiry_policy
    if policy == ExpiryPolicy.NEVER or (
        policy == ExpiryPolicy.ROLLING and program.expiry_months is None
    ):
        return _("Points never expire.")
    if policy == ExpiryPolicy.FIXED:
        period = {1: _("month"), 3: _("quarter"), 6: _("half-year"), 12: _("year")}.get(
            program.expiry_period_months, _("period")
        )
        return (
            _(
                "Points earned in the same calendar %(period)s expire together, "
                "%(months)s months after that %(period)s ends."
            )
            % {"period": period, "months": program.expiry_after_period_months}
            + soonest
        )
    if policy == ExpiryPolicy.INACTIVITY:
        activity = (
            _("purchase or redemption")
            if program.expiry_inactivity_counts_redemptions
            else _("purchase")
        )
        return _(
            "All your points expire together, %(months)s months after your last %(activity)s."
        ) % {"months": program.expiry_inactivity_months, "activity": activity}
    if program.expiry_at_month_end:
        text = _("Points expire %(months)s months after you earn them, at the end of that month.")
    else:
        text = _("Points expire %(months)s months after you earn them.")
    return text % {"months": program.expiry_months} + soonest


def expiry_settings(program: Program) -> dict:
    """The numbers of the policy in force, for clients that compute with them."""
    policy = program.expiry_policy
    if policy == ExpiryPolicy.ROLLING:
        return {"months": program.expiry_months, "at_month_end": program.expiry_at_month_end}
    if policy == ExpiryPolicy.FIXED:
        return {
            "period_months": program.expiry_period_months,
            "after_period_months": program.expiry_after_period_months,
        }
    if policy == ExpiryPolicy.INACTIVITY:
        return {
            "months": program.expiry_inactivity_months,
            "redemptions_count": program.expiry_inactivity_counts_redemptions,
        }
    return {}


def not_earning_explain(program: Program) -> dict:
    """What earns no points, program-wide (a rule's own exclusions are in its text)."""
    skus, categories = program.excluded_sku_list, program.excluded_category_list
    text = []
    if skus:
        text.append(_("These products earn no points: %(codes)s.") % {"codes": _names(skus)})
    if categories:
        text.append(
            _("These categories earn no points: %(codes)s.") % {"codes": _names(categories)}
        )
    if skus or categories:
        text.append(_("They count neither toward a minimum spend nor toward your tier."))
    text.append(
        _("The part of an order you pay with points earns points too.")
        if program.points_paid_earns
        else _("The part of an order you pay with points earns no points.")
    )
    return {
        "skus": skus,
        "categories": categories,
        "points_paid_earns": program.points_paid_earns,
        "text": text,
    }


def checkout_explain(program: Program) -> list[str]:
    text = []
    if program.max_points_share is not None:
        text.append(
            _("Points can pay up to %(share)s%% of an order.")
            % {"share": number(program.max_points_share)}
        )
    if program.min_points_per_redemption:
        text.append(
            _("You redeem at least %(points)s points at a time.")
            % {"points": program.min_points_per_redemption}
        )
    if program.redemption_step_points:
        text.append(
            _("Points are redeemed in steps of %(points)s.")
            % {"points": program.redemption_step_points}
        )
    return text


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
