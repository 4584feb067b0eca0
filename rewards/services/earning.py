"""How many points a purchase earns, itemized, so the same numbers can be explained."""

from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal

from rewards.models import Program


@dataclass(frozen=True)
class EarnItem:
    rule: str
    description: str
    points: int


@dataclass(frozen=True)
class EarnCalculation:
    points: int
    items: list[EarnItem] = field(default_factory=list)


def purchase_points_calculate(*, program: Program, amount: Decimal) -> EarnCalculation:
    """Base rate: `points_per_unit` per currency unit of the amount, rounded down once."""
    points = int((amount * program.points_per_unit).to_integral_value(rounding=ROUND_FLOOR))
    rate = program.points_per_unit.normalize()
    item = EarnItem(
        rule="base",
        description=f"{rate} point(s) per {program.currency} spent, rounded down",
        points=points,
    )
    return EarnCalculation(points=points, items=[item])
