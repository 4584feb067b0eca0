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

from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Definition:
    label: str  # lazily translated: the reader's language when shown
    text: str
    kind: str  # count, rate, money, ratio, points, list


DEFINITIONS: dict[str, Definition] = {
    "active_start": Definition(
        _("Active at start"),
        _(
            "Members who made a purchase, not fully refunded, in the activity window before the "
            "start of the period (S)."
        ),
        "count",
    ),
    "active_end": Definition(
        _("Active at end"),
        _(
            "Members who made a purchase, not fully refunded, in the activity window before the "
            "end of the period (E)."
        ),
        "count",
    ),
    "new_active": Definition(
        _("New or reactivated"),
        _(
            "Members active at the end who were not active at the start: new customers and "
            "customers who came back (N)."
        ),
        "count",
    ),
    "retained": Definition(
        _("Retained"),
        _("Members active at both the start and the end of the period (E − N)."),
        "count",
    ),
    "lost": Definition(
        _("Lost"),
        _("Members active at the start who are no longer active at the end (S − (E − N))."),
        "count",
    ),
    "retention_rate": Definition(
        _("Retention rate"),
        _(
            "Share of the members active at the start who are still active at the end: "
            "(E − N) ÷ S × 100. Empty when no member was active at the start."
        ),
        "rate",
    ),
    "churn_rate": Definition(
        _("Churn rate"),
        _(
            "Share of the members active at the start who are no longer active at the end: "
            "(S − (E − N)) ÷ S × 100. Retention plus churn is 100%."
        ),
        "rate",
    ),
    "purchases": Definition(_("Purchases"), _("Purchases made in the period."), "count"),
    "purchasing_members": Definition(
        _("Purchasing members"), _("Members with at least one purchase in the period."), "count"
    ),
    "repeat_members": Definition(
        _("Repeat customers"), _("Members with two or more purchases in the period."), "count"
    ),
    "repeat_purchase_rate": Definition(
        _("Repeat purchase rate"),
        _("Members with two or more purchases in the period ÷ members with at least one × 100."),
        "rate",
    ),
    "purchase_frequency": Definition(
        _("Purchase frequency"),
        _("Purchases in the period ÷ members who purchased in it: purchases per customer."),
        "ratio",
    ),
    "purchase_amount": Definition(
        _("Sales"), _("Amount of the purchases made in the period, before refunds."), "money"
    ),
    "refund_amount": Definition(
        _("Refunds"), _("Amount refunded in the period, whenever the purchase was made."), "money"
    ),
    "average_order_value": Definition(
        _("Average order value"),
        _("Amount of the purchases in the period ÷ number of purchases in it."),
        "money",
    ),
    "net_revenue": Definition(
        _("Net revenue"),
        _("Amount of the purchases in the period minus the refunds dated in the period."),
        "money",
    ),
    "customer_lifetime_value": Definition(
        _("Customer lifetime value"),
        _(
            "Historical: net revenue (purchases minus refunds) of all time up to the end of the "
            "period ÷ members enrolled by then. The value of each member is on their admin page."
        ),
        "money",
    ),
    "members_total": Definition(
        _("Members"), _("Members enrolled before the end of the period."), "count"
    ),
    "members_enrolled": Definition(
        _("New members"), _("Members who enrolled during the period."), "count"
    ),
    "tier_distribution": Definition(
        _("Tier distribution"),
        _("Members enrolled before the end of the period, by their tier at its end."),
        "list",
    ),
    "points_issued": Definition(
        _("Points issued"),
        _(
            "Points earned on purchases, bonuses and staff adjustments in the period, minus "
            "points taken back for refunds."
        ),
        "points",
    ),
    "points_redeemed": Definition(
        _("Points redeemed"),
        _(
            "Points spent on redemptions and rewards in the period, minus points given back by "
            "voided holds and cancelled redemptions."
        ),
        "points",
    ),
    "points_expired": Definition(
        _("Points expired"),
        _("Points that reached their expiry date unspent in the period."),
        "points",
    ),
    "points_issued_to_date": Definition(
        _("Points issued to date"),
        _("Points issued since the program started, up to the end of the period."),
        "points",
    ),
    "points_redeemed_to_date": Definition(
        _("Points redeemed to date"),
        _("Points redeemed since the program started, up to the end of the period."),
        "points",
    ),
    "points_expired_to_date": Definition(
        _("Points expired to date"),
        _("Points expired since the program started, up to the end of the period."),
        "points",
    ),
    "points_outstanding": Definition(
        _("Points outstanding"),
        _(
            "Points members own at the end of the period: issued − redeemed − expired, all "
            "to date; the sum of the ledger."
        ),
        "points",
    ),
    "points_liability": Definition(
        _("Liability"),
        _(
            "What the outstanding points would cost if all were redeemed: outstanding points × "
            "the value of a point."
        ),
        "money",
    ),
    "redemption_rate": Definition(
        _("Redemption rate"),
        _("Points redeemed ÷ points issued, both since the program started, × 100."),
        "rate",
    ),
    "breakage_rate": Definition(
        _("Breakage rate"),
        _("Points expired ÷ points issued, both since the program started, × 100."),
        "rate",
    ),
    "burn_earn_ratio": Definition(
        _("Burn/earn ratio"),
        _(
            "Points redeemed in the period ÷ points issued in the period × 100. Above 100 "
            "members spend more than they earn."
        ),
        "rate",
    ),
    "nps": Definition(
        _("NPS"),
        _(
            # xgettext:no-python-format
            "Net Promoter Score of the answers of the period: % of scores 9–10 minus % of "
            "scores 0–6, from −100 to 100."
        ),
        "ratio",
    ),
    "nps_responses": Definition(
        _("NPS answers"), _("Answers to the 0–10 recommendation question in the period."), "count"
    ),
    "csat": Definition(
        _("CSAT"), _("Share of satisfaction answers of the period scoring 4 or 5 out of 5."), "rate"
    ),
    "csat_responses": Definition(
        _("CSAT answers"), _("Answers to the 1–5 satisfaction question in the period."), "count"
    ),
    "cohort_retention": Definition(
        _("Cohort retention"),
        _(
            "For the members who enrolled in a month (a cohort), the share who made a purchase, "
            "not fully refunded, in each following month."
        ),
        "rate",
    ),
}


def definition_text(field: str) -> str:
    return DEFINITIONS[field].text
