"""Campaign budgets: an earn rule may give at most `budget_points` across all members.

The calculation (rewards.services.earning) already limits an item to what was left of the
budget when the rules were read; a purchase then takes its points from the budget with
one conditional UPDATE per budgeted rule, inside its transaction, the discipline of the
reward stock (rewards.services.catalog). Two purchases racing for the last points of a
budget queue on the rule's row; the second finds less left and gets only that, so the
rule never gives more than its budget, exactly. The database's check constraint
`earn_rule_budget_not_overspent` refuses it all the same.

Points taken back by a refund do not return to the budget: the budget counts the points
the campaign gave.
"""

from dataclasses import replace

from django.db.models import F
from django.utils.translation import gettext as _

from rewards.models import EarnRule
from rewards.services.earning import EarnCalculation


def _budget_take(rule_id: int, points: int) -> int:
    """Take up to `points` from the rule's budget; returns how many it got."""
    if EarnRule.objects.filter(pk=rule_id, budget_used__lte=F("budget_points") - points).update(
        budget_used=F("budget_used") + points
    ):
        return points
    # Less than `points` is left: lock the row, take what is left. Happens once or twice
    # per budget, as it runs out.
    rule = EarnRule.objects.select_for_update().only("budget_points", "budget_used").get(pk=rule_id)
    got = min(points, max(rule.budget_points - rule.budget_used, 0))
    if got:
        EarnRule.objects.filter(pk=rule_id).update(budget_used=F("budget_used") + got)
    return got


def earn_budgets_take(calculation: EarnCalculation) -> EarnCalculation:
    """The calculation with each budgeted rule's item cut to what its budget still gives,
    that part taken from the budget. Rules are taken in id order, so two purchases with
    the same budgeted rules cannot deadlock. Call inside the purchase's transaction."""
    budgeted = sorted(
        (
            (index, item)
            for index, item in enumerate(calculation.items)
            if item.rule is not None and item.rule.budget_points is not None and item.points
        ),
        key=lambda pair: pair[1].rule.pk,
    )
    if not budgeted:
        return calculation
    items = list(calculation.items)
    limited = _(" (limited by what is left of its budget)")
    for index, item in budgeted:
        got = _budget_take(item.rule.pk, item.points)
        if got < item.points:
            description = item.description
            if limited not in description:
                description += limited
            items[index] = replace(item, points=got, description=description)
    return replace(calculation, points=sum(item.points for item in items), items=items)
