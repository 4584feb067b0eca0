"""Points + cash at checkout: how many points one redemption may spend.

Program settings (all optional):
- `max_points_share`: the most of an order, in percent, that points may pay, when the
  redemption names its `order_total`;
- `min_points_per_redemption`: the fewest points one redemption may spend;
- `redemption_step_points`: points are spent in multiples of this.

They apply to redemptions of points for a discount; a catalog reward costs what it costs.
A refusal is raised before anything is written and names the largest number of points the
member may redeem on this order now (`max_points`): their available balance and the
order's share, rounded down to a step; 0 when that is below the minimum.
"""

from decimal import ROUND_FLOOR, Decimal

from django.utils.translation import gettext as _

from rewards.errors import (
    RedemptionBelowMinimum,
    RedemptionExceedsOrderShare,
    RedemptionNotInSteps,
)
from rewards.models import Program


def order_share_points_max(*, program: Program, order_total: Decimal | None) -> int | None:
    """The most points whose discount stays within the order's share; None: no limit."""
    if order_total is None or program.max_points_share is None or not program.point_value:
        return None
    share = order_total * program.max_points_share / 100
    return int((share / program.point_value).to_integral_value(rounding=ROUND_FLOOR))


def redemption_points_max(*, program: Program, order_total: Decimal | None, available: int) -> int:
    """The largest number of points one redemption may spend now."""
    largest = available
    share_max = order_share_points_max(program=program, order_total=order_total)
    if share_max is not None:
        largest = min(largest, share_max)
    step = program.redemption_step_points
    if step:
        largest -= largest % step
    if program.min_points_per_redemption and largest < program.min_points_per_redemption:
        return 0
    return max(largest, 0)


def redemption_points_check(
    *, program: Program, points: int, order_total: Decimal | None, available: int
) -> None:
    """Refuse points the program's checkout settings do not allow. Raises
    RedemptionBelowMinimum, RedemptionNotInSteps, RedemptionExceedsOrderShare, each with
    `max_points`."""
    minimum = program.min_points_per_redemption
    step = program.redemption_step_points
    share_max = order_share_points_max(program=program, order_total=order_total)
    if minimum is None and step is None and share_max is None:
        return
    largest = redemption_points_max(program=program, order_total=order_total, available=available)
    extra = {"max_points": largest}
    if minimum and points < minimum:
        raise RedemptionBelowMinimum(
            _("A redemption must spend at least %(minimum)s points; at most %(max)s here.")
            % {"minimum": minimum, "max": largest},
            extra={**extra, "min_points": minimum},
        )
    if step and points % step:
        raise RedemptionNotInSteps(
            _("Points are redeemed in steps of %(step)s; at most %(max)s here.")
            % {"step": step, "max": largest},
            extra={**extra, "step_points": step},
        )
    if share_max is not None and points > share_max:
        raise RedemptionExceedsOrderShare(
            _("Points may pay at most %(share)s%% of this order: %(max)s points here.")
            % {"share": f"{program.max_points_share.normalize():f}", "max": largest},
            extra={**extra, "max_share_percent": f"{program.max_points_share.normalize():f}"},
        )
