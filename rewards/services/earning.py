"""How many points a purchase earns, itemized, so the same numbers can be explained.

The policy, in the words the program page shows members:

1. Base points: `points_per_unit` per currency unit of the purchase amount.
2. Multipliers add, they don't compound. Each multiplier adds (multiplier − 1) × the base
   points of what it covers: a ×2 on coffee adds the coffee's base points once more, a ×2
   weekend campaign adds the whole purchase's base points once more, a ×1.5 tier adds half.
   Their order therefore never matters.
   - Category or SKU multiplier: on the lines that match. When several match one line, one
     applies (see 4).
   - Campaign multiplier: on the whole purchase, while its window is open.
   - Tier multiplier: on the whole purchase, for the member's tier before this purchase.
3. Fixed bonuses are added as they are, never multiplied: a bonus for spending at least a
   minimum amount, and a first-purchase bonus.
4. Within each kind of rule, one rule applies: the matching rule with the highest priority,
   then the larger reward, then the oldest. Different kinds stack.
5. Caps: a rule gives a member at most its cap per day, per month (both by the purchase's
   date in the program's time zone) and in total; a capped item shows what is left.
6. Rounding happens once, at the end: the total is rounded down to whole points. The items
   are whole points that add up to the total (largest remainders get the odd points).

7. Exclusions (rewards.services.exclusions): lines the program excludes earn nothing and
   count for no minimum spend; a line a rule excludes is left out of that rule only; the
   part paid with points earns nothing unless the program says so.
8. Budgets (rewards.services.budgets): a rule with a points budget gives at most what is
   left of it; the real earn takes it with a conditional update, so it is never overspent.

Line amounts are quantity × unit price; if the lines add up to more than the purchase amount
(an order-level discount), they are scaled down to it.

Rules are matched on the purchase's own time (`occurred_at`), so an imported purchase earns
what it would have earned on its day.
"""

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_FLOOR, Decimal

from django.db.models import F, Q, Sum
from django.utils.translation import gettext, gettext_lazy, ngettext

from loyalty_engine.locale_format import money_format, number_format
from members.models import Member, Shop
from rewards.models import EarnAward, EarnRule, Program, Purchase, Tier
from rewards.segments import member_segments_attach, segment_limit_allows, segments_flag
from rewards.services.exclusions import (
    ExcludedLine,
    Exclusions,
    points_paid_reason,
    program_exclusion_reason,
    rule_exclusion_reason,
)

Kind = EarnRule.Kind
Source = EarnAward.Source


@dataclass(frozen=True)
class BasketLine:
    sku: str
    category: str
    amount: Decimal


@dataclass(frozen=True)
class EarnItem:
    source: str
    name: str
    description: str
    points: int
    rule: EarnRule | None = None
    tier: Tier | None = None

    def as_dict(self) -> dict:
        return {
            "source": self.source,
            "rule_id": self.rule.pk if self.rule else None,
            "name": self.name,
            "description": self.description,
            "points": self.points,
        }


@dataclass(frozen=True)
class EarnCalculation:
    points: int
    items: list[EarnItem] = field(default_factory=list)
    # Lines that earn nothing or that a rule left out, with why; and how much of the
    # purchase amount earns nothing (excluded lines and the part paid with points).
    excluded: list[ExcludedLine] = field(default_factory=list)
    not_earning_amount: Decimal = Decimal(0)


@dataclass
class _Draft:
    source: str
    name: str
    description: str
    exact: Decimal
    rule: EarnRule | None = None
    tier: Tier | None = None


def number(value: Decimal | int) -> str:
    """A decimal as people write it: 2 not 2.000, 1.5 not 1.500."""
    return f"{Decimal(value).normalize():f}"


def rules_for_purchase(
    *, shop: Shop, tier: Tier | None, occurred_at: datetime, member: Member | None = None
) -> list[EarnRule]:
    """Active purchase rules whose window holds `occurred_at`, for this shop and tier, and
    for the member's segments (rewards.segments)."""
    rules = list(
        segments_flag(
            EarnRule.objects.filter(is_active=True, kind__in=EarnRule.PURCHASE_KINDS)
            .filter(Q(starts_at__isnull=True) | Q(starts_at__lte=occurred_at))
            .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=occurred_at))
            # A rule whose budget is spent gives nothing more (rewards.services.budgets).
            .filter(Q(budget_points__isnull=True) | Q(budget_used__lt=F("budget_points")))
            .prefetch_related("shops", "tiers")
        )
    )
    member_segments_attach(rules, member=member)
    return [rule for rule in rules if rule_applies_to(rule, shop=shop, tier=tier)]


def rule_applies_to(rule: EarnRule, *, shop: Shop | None, tier: Tier | None) -> bool:
    shops = rule.shops.all()
    tiers = rule.tiers.all()
    if shops and (shop is None or shop not in shops):
        return False
    if not segment_limit_allows(rule):
        return False
    return not tiers or (tier is not None and tier in tiers)


def _best(rules: list[EarnRule], reward) -> EarnRule | None:
    if not rules:
        return None
    return min(rules, key=lambda rule: (-rule.priority, -reward(rule), rule.pk))


@dataclass(frozen=True)
class CapUsage:
    """Points each capped rule has already given the member: on the day, in the month, ever."""

    day: dict[int, int]
    month: dict[int, int]
    total: dict[int, int]


def cap_usage_get(*, member: Member, rules: list[EarnRule], on: date) -> CapUsage:
    capped = [r.pk for r in rules if r.cap_per_day or r.cap_per_month or r.cap_total]
    if not capped:
        return CapUsage({}, {}, {})
    rows = (
        EarnAward.objects.filter(member=member, rule_id__in=capped)
        .values("rule_id")
        .annotate(
            day=Sum("points", filter=Q(local_date=on)),
            month=Sum("points", filter=Q(local_date__year=on.year, local_date__month=on.month)),
            total=Sum("points"),
        )
    )
    usage = CapUsage({}, {}, {})
    for row in rows:
        usage.day[row["rule_id"]] = row["day"] or 0
        usage.month[row["rule_id"]] = row["month"] or 0
        usage.total[row["rule_id"]] = row["total"] or 0
    return usage


def cap_left(rule: EarnRule, usage: CapUsage) -> tuple[int | None, str]:
    """Points the rule may still give, and which cap binds (None: no cap)."""
    left, which = None, ""
    for cap, used, label in (
        (rule.cap_per_day, usage.day, "daily"),
        (rule.cap_per_month, usage.month, "monthly"),
        (rule.cap_total, usage.total, "total"),
    ):
        if cap is None:
            continue
        room = max(cap - used.get(rule.pk, 0), 0)
        if left is None or room < left:
            left, which = room, _CAP_WORDS[label] % {"cap": cap}
    return left, which


# What a capped item adds to its description, in the reader's language.
_CAP_WORDS = {
    "daily": gettext_lazy("limited by its daily cap of %(cap)s"),
    "monthly": gettext_lazy("limited by its monthly cap of %(cap)s"),
    "total": gettext_lazy("limited by its total cap of %(cap)s"),
}


def _round_items(drafts: list[_Draft]) -> tuple[int, list[int]]:
    """Round the total down once and split it into whole points per item, largest
    remainders first, so the items add up to the total."""
    total = int(sum((d.exact for d in drafts), Decimal(0)).to_integral_value(ROUND_FLOOR))
    floors = [int(d.exact.to_integral_value(ROUND_FLOOR)) for d in drafts]
    spare = total - sum(floors)
    by_remainder = sorted(range(len(drafts)), key=lambda i: (-(drafts[i].exact - floors[i]), i))
    for i in by_remainder[:spare]:
        floors[i] += 1
    return total, floors


def purchase_points_calculate(
    *,
    program: Program,
    amount: Decimal,
    lines: list[BasketLine] = (),
    rules: list[EarnRule] = (),
    tier: Tier | None = None,
    is_first_purchase: bool = False,
    usage: CapUsage | None = None,
    points_paid_amount: Decimal = Decimal(0),
) -> EarnCalculation:
    """Points for a purchase by the policy in this module's docstring. Pure: the caller
    loads the rules that apply (`rules_for_purchase`) and the cap usage (`cap_usage_get`),
    so the preview and the real earn compute with the same function on the same inputs."""
    usage = usage or CapUsage({}, {}, {})
    rate = program.points_per_unit
    currency = program.currency
    excluded: list[ExcludedLine] = []

    # Each line's share of the amount (scaled down to an order-level discount), and which
    # the program excludes from earning.
    lines_total = sum((line.amount for line in lines), Decimal(0))
    scale = min(Decimal(1), amount / lines_total) if lines_total > 0 else Decimal(0)
    program_exclusions = Exclusions.of(program)
    earning_lines: list[tuple[BasketLine, Decimal]] = []
    excluded_amount = Decimal(0)
    for line in lines:
        share = line.amount * scale
        what = program_exclusions.reason(sku=line.sku, category=line.category)
        if what:
            excluded.append(
                ExcludedLine(line.sku, line.category, share, program_exclusion_reason(what))
            )
            excluded_amount += share
        else:
            earning_lines.append((line, share))
    paid = Decimal(0)
    if not program.points_paid_earns and points_paid_amount > 0:
        paid = min(points_paid_amount, amount - excluded_amount)
        if paid > 0:
            excluded.append(ExcludedLine("", "", paid, points_paid_reason()))
            # The cash share of each earning line: the points pay evenly across them.
            cash = (amount - excluded_amount - paid) / (amount - excluded_amount)
            earning_lines = [(line, share * cash) for line, share in earning_lines]
    earning_amount = amount - excluded_amount - paid
    rule_exclusions = {rule.pk: Exclusions.of(rule) for rule in rules}

    def left_out(rule: EarnRule, *, matching_only: bool) -> Decimal:
        """The amount of earning lines `rule` excludes, each listed with why."""
        exclusions = rule_exclusions[rule.pk]
        if not exclusions:
            return Decimal(0)
        total = Decimal(0)
        for line, share in earning_lines:
            what = exclusions.reason(sku=line.sku, category=line.category)
            if what and (not matching_only or _line_matches(rule, line)):
                excluded.append(
                    ExcludedLine(
                        line.sku, line.category, share, rule_exclusion_reason(rule, what), rule
                    )
                )
                total += share
        return total

    base = earning_amount * rate
    drafts = [
        _Draft(
            Source.BASE,
            gettext("Base points"),
            ngettext(
                "%(rate)s point per %(currency)s on %(amount)s",
                "%(rate)s points per %(currency)s on %(amount)s",
                1 if rate == 1 else 2,
            )
            % {
                "rate": number_format(rate),
                "currency": currency,
                "amount": money_format(earning_amount, currency),
            },
            base,
        )
    ]

    line_rules = [r for r in rules if r.kind in (Kind.CATEGORY_MULTIPLIER, Kind.SKU_MULTIPLIER)]
    if earning_lines and line_rules:
        per_rule: dict[int, tuple[EarnRule, Decimal, int]] = {}
        for line, share in earning_lines:
            matching = [
                r
                for r in line_rules
                if _line_matches(r, line)
                and not rule_exclusions[r.pk].reason(sku=line.sku, category=line.category)
            ]
            rule = _best(matching, lambda r: r.multiplier)
            if rule is None:
                continue
            _, covered, count = per_rule.get(rule.pk, (rule, Decimal(0), 0))
            per_rule[rule.pk] = (rule, covered + share, count + 1)
        for rule in line_rules:
            left_out(rule, matching_only=True)
        for rule, covered, count in sorted(per_rule.values(), key=lambda v: v[0].pk):
            drafts.append(
                _Draft(
                    Source.RULE,
                    rule.name,
                    ngettext(
                        "×%(multiplier)s on %(count)s matching line (%(amount)s)",
                        "×%(multiplier)s on %(count)s matching lines (%(amount)s)",
                        count,
                    )
                    % {
                        "multiplier": number_format(rule.multiplier),
                        "count": count,
                        "amount": money_format(covered.quantize(Decimal("0.01")), currency),
                    },
                    covered * rate * (rule.multiplier - 1),
                    rule=rule,
                )
            )

    campaigns = [r for r in rules if r.kind == Kind.CAMPAIGN_MULTIPLIER]
    campaign = _best(campaigns, lambda r: r.multiplier)
    if campaign:
        campaign_amount = earning_amount - left_out(campaign, matching_only=False)
        drafts.append(
            _Draft(
                Source.RULE,
                campaign.name,
                (
                    gettext("×%(multiplier)s on the whole purchase")
                    % {"multiplier": number_format(campaign.multiplier)}
                    if campaign_amount == earning_amount
                    else gettext("×%(multiplier)s on %(amount)s")
                    % {
                        "multiplier": number_format(campaign.multiplier),
                        "amount": money_format(campaign_amount.quantize(Decimal("0.01")), currency),
                    }
                ),
                campaign_amount * rate * (campaign.multiplier - 1),
                rule=campaign,
            )
        )
    if tier and tier.earn_multiplier > 1:
        drafts.append(
            _Draft(
                Source.TIER,
                gettext("%(tier)s tier") % {"tier": tier.name},
                gettext("×%(multiplier)s for %(tier)s members")
                % {"multiplier": number_format(tier.earn_multiplier), "tier": tier.name},
                base * (tier.earn_multiplier - 1),
                tier=tier,
            )
        )

    def spend_counted(rule: EarnRule) -> Decimal:
        exclusions = rule_exclusions[rule.pk]
        if not exclusions:
            return earning_amount
        return earning_amount - sum(
            (
                share
                for line, share in earning_lines
                if exclusions.reason(sku=line.sku, category=line.category)
            ),
            Decimal(0),
        )

    min_spend = _best(
        [r for r in rules if r.kind == Kind.MIN_SPEND_BONUS and spend_counted(r) >= r.min_amount],
        lambda r: r.bonus_points,
    )
    if min_spend:
        left_out(min_spend, matching_only=False)
        drafts.append(
            _Draft(
                Source.RULE,
                min_spend.name,
                gettext("+%(points)s for spending at least %(amount)s")
                % {
                    "points": min_spend.bonus_points,
                    "amount": money_format(min_spend.min_amount, currency),
                },
                Decimal(min_spend.bonus_points),
                rule=min_spend,
            )
        )
    first = is_first_purchase and _best(
        [r for r in rules if r.kind == Kind.FIRST_PURCHASE_BONUS], lambda r: r.bonus_points
    )
    if first:
        drafts.append(
            _Draft(
                Source.RULE,
                first.name,
                gettext("+%(points)s for a first purchase") % {"points": first.bonus_points},
                Decimal(first.bonus_points),
                rule=first,
            )
        )

    for draft in drafts:
        if draft.rule is None:
            continue
        left, which = cap_left(draft.rule, usage)
        if left is not None and draft.exact > left:
            draft.exact = Decimal(left)
            draft.description += f" ({which})"
        budget_left = draft.rule.budget_left
        if budget_left is not None and draft.exact > budget_left:
            draft.exact = Decimal(budget_left)
            draft.description += gettext(" (limited by what is left of its budget)")

    total, points = _round_items(drafts)
    items = [
        EarnItem(
            source=d.source,
            name=d.name,
            description=d.description,
            points=p,
            rule=d.rule,
            tier=d.tier,
        )
        for d, p in zip(drafts, points, strict=True)
    ]
    return EarnCalculation(
        points=total,
        items=items,
        excluded=excluded,
        not_earning_amount=excluded_amount + paid,
    )


def _line_matches(rule: EarnRule, line: BasketLine) -> bool:
    value = line.category if rule.kind == Kind.CATEGORY_MULTIPLIER else line.sku
    return bool(value) and value.casefold() in {t.casefold() for t in rule.target_list}


def member_purchase_points_calculate(
    *,
    program: Program,
    member: Member,
    shop: Shop,
    tier: Tier | None,
    amount: Decimal,
    lines: list,
    occurred_at: datetime,
    rules_configured: bool = True,
    points_paid_amount: Decimal = Decimal(0),
) -> EarnCalculation:
    """The points this member would earn for this purchase now: loads the rules, the cap
    usage and whether it is the member's first purchase, then calculates. The preview and
    the real earn both call this, so they always agree on the same data.
    `rules_configured=False`: the caller knows no active purchase rule exists, so nothing
    is read (a purchase then earns its base points only)."""
    rules = (
        rules_for_purchase(shop=shop, tier=tier, occurred_at=occurred_at, member=member)
        if rules_configured
        else []
    )
    usage = cap_usage_get(member=member, rules=rules, on=occurred_at.astimezone(program.tz).date())
    needs_first = any(rule.kind == Kind.FIRST_PURCHASE_BONUS for rule in rules)
    is_first = needs_first and not Purchase.objects.filter(member=member).exists()
    basket = [
        BasketLine(sku=line.sku, category=line.category, amount=line.quantity * line.unit_price)
        for line in lines
    ]
    return purchase_points_calculate(
        program=program,
        amount=amount,
        lines=basket,
        rules=rules,
        tier=tier,
        is_first_purchase=is_first,
        usage=usage,
        points_paid_amount=points_paid_amount,
    )
