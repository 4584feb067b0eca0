"""The program in plain words, generated from its configuration.

Every sentence here is produced from the same rows the engine computes with (program
settings, tiers, earn rules, milestones and rewards), read fresh on every call, so what
members read can never drift from what the engine does.
"""

from datetime import datetime
from decimal import Decimal

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext as _

from loyalty_engine.locale_format import date_format, money_format, number_format
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
from rewards.segments import segments_flag
from rewards.services.earning import number

Kind = EarnRule.Kind


def _day(moment: datetime, program: Program) -> str:
    return date_format(moment.astimezone(program.tz).date())


def window_text(item, program: Program) -> str:
    if item.starts_at and item.ends_at:
        return gettext("from %(start)s until %(end)s") % {
            "start": _day(item.starts_at, program),
            "end": _day(item.ends_at, program),
        }
    if item.starts_at:
        return gettext("from %(start)s") % {"start": _day(item.starts_at, program)}
    if item.ends_at:
        return gettext("until %(end)s") % {"end": _day(item.ends_at, program)}
    return ""


def _names(items) -> str:
    names = [str(item) for item in items]
    if len(names) == 1:
        return names[0]
    return gettext("%(first)s and %(last)s") % {"first": ", ".join(names[:-1]), "last": names[-1]}


def _bonus(points: int) -> str:
    return ngettext("%(points)s bonus point", "%(points)s bonus points", points) % {
        "points": points
    }


def rule_explain(rule: EarnRule, program: Program) -> str:
    """One sentence saying what the rule gives, on what, for whom, when and up to how much."""
    currency = program.currency
    targets = _names(rule.target_list) if rule.target_list else gettext("nothing yet")
    multiplier = number_format(rule.multiplier or 1)
    points = rule.bonus_points or 0
    if rule.kind == Kind.CATEGORY_MULTIPLIER:
        text = gettext("×%(multiplier)s points on %(targets)s") % {
            "multiplier": multiplier,
            "targets": targets,
        }
    elif rule.kind == Kind.SKU_MULTIPLIER:
        text = gettext("×%(multiplier)s points on the products %(targets)s") % {
            "multiplier": multiplier,
            "targets": targets,
        }
    elif rule.kind == Kind.CAMPAIGN_MULTIPLIER:
        text = gettext("×%(multiplier)s points on every purchase") % {"multiplier": multiplier}
    elif rule.kind == Kind.MIN_SPEND_BONUS:
        text = gettext("%(bonus)s on a purchase of at least %(amount)s") % {
            "bonus": _bonus(points),
            "amount": money_format(rule.min_amount or Decimal(0), currency),
        }
    elif rule.kind == Kind.FIRST_PURCHASE_BONUS:
        text = gettext("%(bonus)s on your first purchase") % {"bonus": _bonus(points)}
    elif rule.kind == Kind.SIGNUP_BONUS:
        text = gettext("%(bonus)s when you join") % {"bonus": _bonus(points)}
    else:
        text = gettext("%(bonus)s on your birthday, once a year") % {"bonus": _bonus(points)}
    shops = list(rule.shops.all())
    tiers = list(rule.tiers.all())
    if shops:
        text += gettext(", at %(shops)s") % {"shops": _names(shops)}
    if tiers:
        text += gettext(", for %(tiers)s members") % {"tiers": _names(tiers)}
    if getattr(rule, "has_segments", False):
        # Segment names are staff words ("At risk"); members read no more than this.
        text += gettext(", for selected members")
    if window := window_text(rule, program):
        text += f", {window}"
    caps = []
    if rule.cap_per_day:
        caps.append(
            ngettext("%(points)s point a day", "%(points)s points a day", rule.cap_per_day)
            % {"points": rule.cap_per_day}
        )
    if rule.cap_per_month:
        caps.append(
            ngettext("%(points)s point a month", "%(points)s points a month", rule.cap_per_month)
            % {"points": rule.cap_per_month}
        )
    if rule.cap_total:
        caps.append(
            ngettext("%(points)s point in all", "%(points)s points in all", rule.cap_total)
            % {"points": rule.cap_total}
        )
    if caps:
        text += gettext(" (up to %(caps)s)") % {"caps": _names(caps)}
    left_out = [*rule.excluded_sku_list, *rule.excluded_category_list]
    if left_out:
        text += _("; not on %(codes)s") % {"codes": _names(left_out)}
    if rule.budget_points is not None:
        text += _(", while its budget of %(budget)s points lasts") % {"budget": rule.budget_points}
    return text + "."


def _value(program: Program, value: Decimal) -> str:
    if program.tier_basis == TierBasis.SPEND:
        return gettext("%(amount)s spent") % {"amount": money_format(value, program.currency)}
    return ngettext("%(points)s point earned", "%(points)s points earned", int(value)) % {
        "points": number_format(value)
    }


def tier_explain(tier: Tier, program: Program) -> str:
    if tier.threshold == 0:
        text = gettext("%(tier)s: everyone starts here") % {"tier": tier.name}
    else:
        text = ngettext(
            "%(tier)s: %(value)s in %(months)s month",
            "%(tier)s: %(value)s in %(months)s months",
            program.tier_window_months,
        ) % {
            "tier": tier.name,
            "value": _value(program, tier.threshold),
            "months": program.tier_window_months,
        }
    if tier.earn_multiplier > 1:
        text += gettext("; ×%(multiplier)s base points") % {
            "multiplier": number_format(tier.earn_multiplier)
        }
    return text + "."


def milestone_explain(milestone: Milestone, program: Program) -> str:
    target = milestone.target
    count = int(target)
    if milestone.kind == Milestone.Kind.PURCHASE_COUNT:
        goal = ngettext("make %(count)s purchase", "make %(count)s purchases", count) % {
            "count": number_format(target)
        }
    elif milestone.kind == Milestone.Kind.LIFETIME_POINTS:
        goal = ngettext("earn %(count)s point in all", "earn %(count)s points in all", count) % {
            "count": number_format(target)
        }
    else:
        goal = gettext("spend %(amount)s") % {"amount": money_format(target, program.currency)}
    period = {
        Milestone.Period.EVER: "",
        Milestone.Period.YEAR: gettext(" in a calendar year"),
        Milestone.Period.MONTH: gettext(" in a calendar month"),
    }[milestone.period]
    gifts = []
    if milestone.bonus_points:
        gifts.append(_bonus(milestone.bonus_points))
    if milestone.reward_id:
        gifts.append(gettext("a free %(reward)s") % {"reward": milestone.reward.name})
    again = "" if milestone.period == Milestone.Period.EVER else gettext(", once per period")
    text = gettext("%(milestone)s: %(goal)s%(period)s and get %(gifts)s%(again)s") % {
        "milestone": milestone.name,
        "goal": goal,
        "period": period,
        "gifts": _names(gifts),
        "again": again,
    }
    if getattr(milestone, "has_segments", False):
        text += gettext(", for selected members")
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

    rate = program.points_per_unit
    activity_types = list(ActivityType.objects.filter(is_active=True).order_by("key"))
    earning_text = [
        ngettext(
            "You earn %(rate)s point for every %(one)s you spend, rounded down to whole "
            "points once per purchase.",
            "You earn %(rate)s points for every %(one)s you spend, rounded down to whole "
            "points once per purchase.",
            1 if rate == 1 else 2,
        )
        % {"rate": number_format(rate), "one": money_format(Decimal(1), currency)},
        *[rule_explain(rule, program) for rule in rules],
        *[activity_explain(activity_type) for activity_type in activity_types],
    ]
    if text := referral_explain(program):
        earning_text.append(text)
    expiry = expiry_explain(program)
    pending = (
        ngettext(
            "Points from a purchase can be spent %(days)s day after it.",
            "Points from a purchase can be spent %(days)s days after it.",
            program.pending_days,
        )
        % {"days": program.pending_days}
        if program.pending_days
        else gettext("Points from a purchase can be spent at once.")
    )
    basis = (
        gettext("money spent")
        if program.tier_basis == TierBasis.SPEND
        else gettext("points earned")
    )
    tier_rules = ngettext(
        "Your tier follows the %(basis)s on purchases in the last %(months)s month, net of "
        "refunds; your balance does not count. You move up as soon as a purchase qualifies "
        "you. If you fall below your tier, you keep it for %(days)s days, then move down one "
        "tier at a time.",
        "Your tier follows the %(basis)s on purchases in the last %(months)s months, net of "
        "refunds; your balance does not count. You move up as soon as a purchase qualifies "
        "you. If you fall below your tier, you keep it for %(days)s days, then move down one "
        "tier at a time.",
        program.tier_window_months,
    ) % {
        "basis": basis,
        "months": program.tier_window_months,
        "days": program.tier_grace_days,
    }
    return {
        "name": program.name,
        "currency": currency,
        "earning": {
            "base_rate": f"{program.points_per_unit.normalize():f}",
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
            "text": tier_rules if tiers else gettext("This program has no tiers."),
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
                gettext("Each point is worth %(value)s off a purchase.")
                % {"value": money_format(program.point_value, currency)},
                gettext(
                    "Or exchange points for a reward from the catalog and get a voucher to use "
                    "at the till. Cancelling an unused voucher gives its points back."
                ),
                *checkout_explain(program),
                *(
                    [gettext("Some rewards are offered to selected members only.")]
                    if any(r.has_segments for r in rewards)
                    else []
                ),
            ],
            "point_value": program.point_value,
            "max_points_share_percent": (
                number(program.max_points_share) if program.max_points_share is not None else None
            ),
            "min_points": program.min_points_per_redemption,
            "step_points": program.redemption_step_points,
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
    months = program.expiry_months
    text = (
        ngettext(
            "Points expire %(months)s month after you earn them, at the end of that month.",
            "Points expire %(months)s months after you earn them, at the end of that month.",
            months,
        )
        if program.expiry_at_month_end
        else ngettext(
            "Points expire %(months)s month after you earn them.",
            "Points expire %(months)s months after you earn them.",
            months,
        )
    )
    return (
        text % {"months": months} + " " + gettext("The points that expire soonest are spent first.")
    )


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
            % {"share": number_format(program.max_points_share)}
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
        gettext(
            "Multipliers add up rather than multiply: each adds its extra share of the base "
            "points, so ×2 on coffee and a ×1.5 tier on a coffee give 1 + 1 + 0.5 = 2.5 times "
            "the base points."
        ),
        gettext("Bonuses are added as they are and are never multiplied."),
        gettext(
            "When several rules of the same kind apply, only one counts: the one with the "
            "highest priority, then the larger reward."
        ),
        gettext("Points are rounded down once, on the total of the purchase."),
    ]


def tier_change_text(change) -> str:
    """A tier change in the reader's language, from its reason and tiers (the stored
    `detail` is the staff's English record, with the qualifying value)."""
    to_name = change.to_tier.name if change.to_tier else gettext("no tier")
    from_name = change.from_tier.name if change.from_tier else gettext("no tier")
    texts = {
        "qualified": gettext("You reached %(to)s."),
        "downgrade": gettext(
            "You moved down from %(from)s to %(to)s after the grace period below its threshold."
        ),
        "pinned": gettext("Staff made %(to)s the lowest tier you can have."),
        "unpinned": gettext("Staff removed the pin on your lowest tier."),
    }
    text = texts.get(change.reason)
    return text % {"to": to_name, "from": from_name} if text else change.detail
