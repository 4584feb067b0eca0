"""What of a purchase earns nothing: lines the program excludes by SKU or category (gift
cards, deposits, tobacco, shipping), lines one earn rule leaves out, and the part of the
order paid with points.

- A line the program excludes earns no base points and no multiplier, and counts for no
  minimum spend and no tier (`Purchase.not_earning_amount`).
- A line an earn rule excludes still earns base points; only that rule leaves it out: a
  line multiplier does not cover it, a campaign multiplier adds nothing on it, a
  minimum-spend bonus does not count it.
- The part paid with points (`points_paid_amount`, or the discount of the redemption a
  purchase names) earns nothing and counts for nothing, unless `points_paid_earns` is set.
  It is taken evenly from the lines that earn, so a line multiplier covers the part of its
  line paid in cash.

The earn calculation (rewards.services.earning) applies these; this module says which line
is excluded and why, in the words the purchase response and its preview show.
"""

from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext as _

from members.models import Member
from rewards.errors import RedemptionNotFound
from rewards.models import EarnRule, Program, Redemption


@dataclass(frozen=True)
class ExcludedLine:
    """A line (or the points-paid part, with no SKU) that earns nothing, or that one rule
    leaves out (`rule` set), with why."""

    sku: str
    category: str
    amount: Decimal
    reason: str
    rule: EarnRule | None = None

    def as_dict(self, *, places: int = 2) -> dict:
        """As the responses show it: the amount rounded to the currency's minor units."""
        return {
            "sku": self.sku,
            "category": self.category,
            "amount": f"{self.amount.quantize(Decimal(1).scaleb(-places)):f}",
            "rule_id": self.rule.pk if self.rule else None,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Exclusions:
    """The SKUs and categories one holder (the program or a rule) excludes, case-folded."""

    skus: frozenset[str]
    categories: frozenset[str]

    @classmethod
    def of(cls, holder: Program | EarnRule) -> "Exclusions":
        return cls(
            frozenset(code.casefold() for code in holder.excluded_sku_list),
            frozenset(code.casefold() for code in holder.excluded_category_list),
        )

    def __bool__(self) -> bool:
        return bool(self.skus or self.categories)

    def reason(self, *, sku: str, category: str) -> str | None:
        """Why the line is excluded, or None if it is not."""
        if sku and sku.casefold() in self.skus:
            return _("the product %(sku)s") % {"sku": sku}
        if category and category.casefold() in self.categories:
            return _("the category %(category)s") % {"category": category}
        return None


def program_exclusion_reason(what: str) -> str:
    return _("Earns no points: %(what)s is excluded from earning.") % {"what": what}


def rule_exclusion_reason(rule: EarnRule, what: str) -> str:
    return _("%(rule)s does not apply to %(what)s.") % {"rule": rule.name, "what": what}


def points_paid_reason() -> str:
    return _("Paid with points: this part of the order earns no points.")


def points_paid_amount_get(
    *, member: Member, redemption_id, points_paid_amount: Decimal | None, amount: Decimal
) -> Decimal:
    """The part of a purchase paid with points: as the shop said, or the discount of the
    member's redemption it names (held or captured). Raises RedemptionNotFound for a
    redemption that is not this member's or that no longer pays anything."""
    if redemption_id is None:
        return min(points_paid_amount or Decimal(0), amount)
    discount = (
        Redemption.objects.filter(
            pk=redemption_id,
            member=member,
            status__in=[Redemption.Status.HELD, Redemption.Status.CAPTURED],
        )
        .values_list("discount_amount", flat=True)
        .first()
    )
    if discount is None:
        raise RedemptionNotFound(
            _("The member has no held or captured redemption with this id."),
            extra={"field": "redemption_id"},
        )
    return min(discount, amount)
