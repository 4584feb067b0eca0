"""The rewards app's models, one module per concept:

- `program`: the program's settings, the shared [start, end) window, staff adjustment limits;
- `ledger`: purchases, refunds, redemptions, ledger entries, point lots and their movements;
- `tiers`: tiers, each member's tier and its history;
- `rules`: earn rules and the points they gave;
- `catalog`: rewards and vouchers;
- `milestones`: milestones and their awards;
- `jobs`: nightly job runs;
- `imports`: CSV imports;
- `messages`: emails to members.

Everything is re-exported here, so `from rewards.models import Purchase` keeps working.
"""

from rewards.models.activities import Activity, ActivityType, Referral
from rewards.models.catalog import Reward, Voucher
from rewards.models.imports import CsvImport
from rewards.models.jobs import JobRun
from rewards.models.ledger import (
    IdempotentRecord,
    LedgerEntry,
    LotMovement,
    PointLot,
    Purchase,
    PurchaseLine,
    Redemption,
    Refund,
)
from rewards.models.merges import MemberMerge
from rewards.models.messages import MemberMessage
from rewards.models.milestones import Milestone, MilestoneAward
from rewards.models.program import (
    ExpiryPolicy,
    Program,
    StaffAdjustmentLimit,
    TierBasis,
    Window,
    window_ordered,
)
from rewards.models.rules import EarnAward, EarnRule
from rewards.models.tiers import MemberTier, Tier, TierChange

__all__ = [
    "Activity",
    "ActivityType",
    "Referral",
    "CsvImport",
    "EarnAward",
    "EarnRule",
    "IdempotentRecord",
    "JobRun",
    "LedgerEntry",
    "LotMovement",
    "MemberMerge",
    "MemberMessage",
    "MemberTier",
    "Milestone",
    "MilestoneAward",
    "PointLot",
    "ExpiryPolicy",
    "Program",
    "Purchase",
    "PurchaseLine",
    "Redemption",
    "Refund",
    "Reward",
    "StaffAdjustmentLimit",
    "Tier",
    "TierBasis",
    "TierChange",
    "Voucher",
    "Window",
    "window_ordered",
]
