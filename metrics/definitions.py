"""What every KPI means, in one place: the API's field descriptions, the dashboard's hover
and click texts and the README are written from this table.

Terms used below, for a period P = [start, end) in the program's time zone:

- A member is *active* at a moment t if they made a purchase with occurred_at in
  (t − W, t] that was not fully refunded by refunds created at or before t. W is the
  program's activity window (`Program.activity_window_days`, 365 by default), counted in
  calendar days in the program's time zone: the same local time W days earlier is just
  outside the window, across daylight saving changes too. Refunds made later do not
  rewrite the past: a period computed again with no new data gives the same numbers.
- Purchases *in P* have occurred_at in [start, end); refunds *dated in P* have created_at
  in [start, end). A purchase exactly at `end` belongs to the next period, but it makes
  its member active at `end`.
- The *tier* breakdown groups members by their tier at the start of P: the tier of their
  last tier change at or before `start`, or the entry tier (threshold 0) if they have none,
  including members who enrolled during P. The *shop* breakdown covers purchase, points
  and feedback figures only; member figures are null for a shop.
- Points, in ledger terms (every entry kind is counted exactly once, so that
  outstanding = issued − redeemed − expired, all to date, reconciles with the ledger):
  - issued: the points of earn, bonus, adjust (both signs), refund (reversals, negative)
    and settle (owed points taken back, negative) entries, and merge_out / merge_in
    (points moved from one member to another by a merge: the pair sums to zero overall,
    and moves points between tiers). It is net of refunds and can be negative in a period
    with more reversals than earnings;
  - redeemed: minus the points of redeem, hold, release and cancel entries (capture moves
    no points: the hold already took them), so a voided hold or a cancelled redemption
    gives its points back to the period it happens in;
  - expired: minus the points of expire entries;
  - outstanding at the end of P: the sum of the `points` of every entry with effective_at
    before `end` (points held by open holds are not outstanding: they are spoken for).
  For a shop, points are attributed to the shop that caused the entry (the entry's shop,
  else its redemption's shop) and expired points to the shop of the purchase that earned
  the lot; staff adjustments, settlements and expired bonus lots belong to no shop.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Definition:
    label: str
    text: str
    kind: str  # count, rate, money, ratio, points, list


DEFINITIONS: dict[str, Definition] = {
    "active_start": Definition(
        "Active at start",
        "Members who made a purchase, not fully refunded, in the activity window before the "
        "start of the period (S).",
        "count",
    ),
    "active_end": Definition(
        "Active at end",
        "Members who made a purchase, not fully refunded, in the activity window before the "
        "end of the period (E).",
        "count",
    ),
    "new_active": Definition(
        "New or reactivated",
        "Members active at the end who were not active at the start: new customers and "
        "customers who came back (N).",
        "count",
    ),
    "retained": Definition(
        "Retained",
        "Members active at both the start and the end of the period (E − N).",
        "count",
    ),
    "lost": Definition(
        "Lost",
        "Members active at the start who are no longer active at the end (S − (E − N)).",
        "count",
    ),
    "retention_rate": Definition(
        "Retention rate",
        "Share of the members active at the start who are still active at the end: "
        "(E − N) ÷ S × 100. Empty when no member was active at the start.",
        "rate",
    ),
    "churn_rate": Definition(
        "Churn rate",
        "Share of the members active at the start who are no longer active at the end: "
        "(S − (E − N)) ÷ S × 100. Retention plus churn is 100%.",
        "rate",
    ),
    "purchases": Definition("Purchases", "Purchases made in the period.", "count"),
    "purchasing_members": Definition(
        "Purchasing members", "Members with at least one purchase in the period.", "count"
    ),
    "repeat_members": Definition(
        "Repeat customers", "Members with two or more purchases in the period.", "count"
    ),
    "repeat_purchase_rate": Definition(
        "Repeat purchase rate",
        "Members with two or more purchases in the period ÷ members with at least one × 100.",
        "rate",
    ),
    "purchase_frequency": Definition(
        "Purchase frequency",
        "Purchases in the period ÷ members who purchased in it: purchases per customer.",
        "ratio",
    ),
    "purchase_amount": Definition(
        "Sales", "Amount of the purchases made in the period, before refunds.", "money"
    ),
    "refund_amount": Definition(
        "Refunds", "Amount refunded in the period, whenever the purchase was made.", "money"
    ),
    "average_order_value": Definition(
        "Average order value",
        "Amount of the purchases in the period ÷ number of purchases in it.",
        "money",
    ),
    "net_revenue": Definition(
        "Net revenue",
        "Amount of the purchases in the period minus the refunds dated in the period.",
        "money",
    ),
    "customer_lifetime_value": Definition(
        "Customer lifetime value",
        "Historical: net revenue (purchases minus refunds) of all time up to the end of the "
        "period ÷ members enrolled by then. The value of each member is on their admin page.",
        "money",
    ),
    "members_total": Definition(
        "Members", "Members enrolled before the end of the period.", "count"
    ),
    "members_enrolled": Definition(
        "New members", "Members who enrolled during the period.", "count"
    ),
    "tier_distribution": Definition(
        "Tier distribution",
        "Members enrolled before the end of the period, by their tier at its end.",
        "list",
    ),
    "points_issued": Definition(
        "Points issued",
        "Points earned on purchases, bonuses and staff adjustments in the period, minus "
        "points taken back for refunds.",
        "points",
    ),
    "points_redeemed": Definition(
        "Points redeemed",
        "Points spent on redemptions and rewards in the period, minus points given back by "
        "voided holds and cancelled redemptions.",
        "points",
    ),
    "points_expired": Definition(
        "Points expired", "Points that reached their expiry date unspent in the period.", "points"
    ),
    "points_issued_to_date": Definition(
        "Points issued to date",
        "Points issued since the program started, up to the end of the period.",
        "points",
    ),
    "points_redeemed_to_date": Definition(
        "Points redeemed to date",
        "Points redeemed since the program started, up to the end of the period.",
        "points",
    ),
    "points_expired_to_date": Definition(
        "Points expired to date",
        "Points expired since the program started, up to the end of the period.",
        "points",
    ),
    "points_outstanding": Definition(
        "Points outstanding",
        "Points members own at the end of the period: issued − redeemed − expired, all "
        "to date; the sum of the ledger.",
        "points",
    ),
    "points_liability": Definition(
        "Liability",
        "What the outstanding points would cost if all were redeemed: outstanding points × "
        "the value of a point.",
        "money",
    ),
    "redemption_rate": Definition(
        "Redemption rate",
        "Points redeemed ÷ points issued, both since the program started, × 100.",
        "rate",
    ),
    "breakage_rate": Definition(
        "Breakage rate",
        "Points expired ÷ points issued, both since the program started, × 100.",
        "rate",
    ),
    "burn_earn_ratio": Definition(
        "Burn/earn ratio",
        "Points redeemed in the period ÷ points issued in the period × 100. Above 100 "
        "members spend more than they earn.",
        "rate",
    ),
    "nps": Definition(
        "NPS",
        "Net Promoter Score of the answers of the period: % of scores 9–10 minus % of "
        "scores 0–6, from −100 to 100.",
        "ratio",
    ),
    "nps_responses": Definition(
        "NPS answers", "Answers to the 0–10 recommendation question in the period.", "count"
    ),
    "csat": Definition(
        "CSAT", "Share of satisfaction answers of the period scoring 4 or 5 out of 5.", "rate"
    ),
    "csat_responses": Definition(
        "CSAT answers", "Answers to the 1–5 satisfaction question in the period.", "count"
    ),
    "cohort_retention": Definition(
        "Cohort retention",
        "For the members who enrolled in a month (a cohort), the share who made a purchase, "
        "not fully refunded, in each following month.",
        "rate",
    ),
}


def definition_text(field: str) -> str:
    return DEFINITIONS[field].text
