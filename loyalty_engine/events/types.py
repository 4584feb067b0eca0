"""The event types, each with what its `data` carries. The one list: the envelope schema,
the webhook endpoint's choices and the feed's `types` filter read it."""

# Every event's envelope: {"id", "type", "version", "occurred_at", "member": {"external_id"},
# "data"}. `version` changes only when a type's data changes incompatibly.
ENVELOPE_VERSION = 1

# Points and hold events also carry `tier` (the member's tier name after the change) when
# the change read it: purchases, enrollment and tier changes.
BALANCE = (
    "balance: the member's points after the change "
    "{available, pending, held, owed, lifetime_earned}"
)

EVENT_TYPES: dict[str, str] = {
    "member.enrolled": "A member enrolled. data: tier, " + BALANCE,
    "member.suspended": "Staff suspended a member. data: reason",
    "member.reactivated": "Staff reactivated a member. data: reason",
    "member.erased": "A member's personal data was erased. data: {} (no personal data; "
    "member.external_id is the pseudonym)",
    "points.earned": "Points earned on a purchase or as a bonus. data: points, source "
    "(purchase, bonus), reason, reference, order_id, tier, " + BALANCE,
    "points.redeemed": "Points spent. data: points (negative), reason, reference, " + BALANCE,
    "points.reversed": "Points taken back by a refund. data: points, owed, reason, "
    "reference, order_id, tier, " + BALANCE,
    "points.adjusted": "Points changed by staff, a cancelled redemption or settled owed "
    "points. data: points, source (adjust, cancel, settle, merge), reason, reference, " + BALANCE,
    "points.expired": "Points expired unspent. data: points (negative), reason, " + BALANCE,
    "points.expiring": "Points will expire soon (sent once per member and expiry date, "
    "EVENTS_EXPIRING_DAYS before). data: points, expires_at, " + BALANCE,
    "hold.created": "Points held for a redemption. data: redemption_id, points, expires_at, "
    + BALANCE,
    "hold.captured": "A hold captured. data: redemption_id, points, " + BALANCE,
    "hold.voided": "A hold voided by the shop. data: redemption_id, points, " + BALANCE,
    "hold.released": "A hold expired unused and its points came back. data: redemption_id, "
    "points, " + BALANCE,
    "tier.changed": "A member's tier changed. data: from_tier, to_tier, direction (up, down), "
    "reason, detail",
    "milestone.reached": "A milestone reached. data: milestone, bonus_points, voucher_code",
    "voucher.issued": "A voucher issued. data: code, reward, expires_at, redemption_id",
    "voucher.used": "A voucher used at a till. data: code, reward, shop",
    "redemption.cancelled": "A captured redemption cancelled; points back. data: "
    "redemption_id, points, " + BALANCE,
    "feedback.received": "An NPS or CSAT answer. data: kind, score, shop",
    "segment.entered": "A member entered a segment at its recompute. data: segment_id, "
    "segment, day",
    "segment.left": "A member left a segment at its recompute. data: segment_id, segment, day",
}
