"""The rewards app's part of a member's own data: its sections of the export and its
eraser (members.personal_data). Registered in RewardsConfig.ready()."""

import csv
import io

from django.db.models import Q

from members.models import Member
from members.personal_data import PersonalData
from members.referral_codes import referral_code_for
from rewards.models import (
    Activity,
    CsvImport,
    EarnAward,
    JobRun,
    LedgerEntry,
    MemberMerge,
    MemberMessage,
    MemberTier,
    MilestoneAward,
    PointLot,
    Purchase,
    Redemption,
    Referral,
    Refund,
    TierChange,
    Voucher,
)


def _rows(queryset, *fields) -> list[dict]:
    return list(queryset.values(*fields))


def member_rewards_export(member: Member) -> dict:
    """Everything the rewards app holds about the member, as plain values (the API view
    renders dates as RFC 3339 and decimals as strings)."""
    purchases = Purchase.objects.filter(member=member).order_by("occurred_at", "id")
    tier_state = MemberTier.objects.filter(member=member).select_related("tier", "floor").first()
    return {
        "ledger": _rows(
            LedgerEntry.objects.filter(member=member).order_by("id"),
            "id",
            "kind",
            "points",
            "held_change",
            "owed_change",
            "reason",
            "reference",
            "effective_at",
            "created_at",
        ),
        "lots": _rows(
            PointLot.objects.filter(member=member).order_by("id"),
            "id",
            "entry_id",
            "points",
            "remaining",
            "earned_at",
            "available_at",
            "is_pending",
            "expires_at",
        ),
        "purchases": [
            {
                "order_id": purchase.order_id,
                "shop": purchase.shop.name,
                "amount": purchase.amount,
                "currency": purchase.currency,
                "occurred_at": purchase.occurred_at,
                "points_earned": purchase.points_earned,
                "refunded_amount": purchase.refunded_amount,
                "points_reversed": purchase.points_reversed,
                "lines": _rows(
                    purchase.lines.order_by("id"), "sku", "category", "quantity", "unit_price"
                ),
            }
            for purchase in purchases.select_related("shop").prefetch_related("lines")
        ],
        "refunds": _rows(
            Refund.objects.filter(purchase__member=member).order_by("created_at", "id"),
            "refund_id",
            "purchase__order_id",
            "shop__name",
            "amount",
            "points_reversed",
            "points_owed",
            "created_at",
        ),
        "redemptions": _rows(
            Redemption.objects.filter(member=member).order_by("created_at"),
            "id",
            "shop__name",
            "points",
            "discount_amount",
            "currency",
            "order_id",
            "reward__name",
            "status",
            "hold_expires_at",
            "created_at",
            "resolved_at",
        ),
        "vouchers": _rows(
            Voucher.objects.filter(member=member).order_by("issued_at", "id"),
            "code",
            "reward__name",
            "status",
            "issued_at",
            "expires_at",
            "used_at",
            "used_by__name",
            "cancelled_at",
        ),
        "tier": {
            "tier": getattr(getattr(tier_state, "tier", None), "name", None),
            "floor": getattr(getattr(tier_state, "floor", None), "name", None),
        },
        "tier_history": _rows(
            TierChange.objects.filter(member=member).order_by("changed_at", "id"),
            "from_tier__name",
            "to_tier__name",
            "reason",
            "detail",
            "qualifying_value",
            "changed_at",
        ),
        "milestones": _rows(
            MilestoneAward.objects.filter(member=member).order_by("awarded_at", "id"),
            "milestone__name",
            "period_key",
            "awarded_at",
        ),
        "awards": _rows(
            EarnAward.objects.filter(member=member).order_by("id"),
            "source",
            "description",
            "points",
            "awarded_at",
        ),
        "referrals": {
            "code": referral_code_for(member.pk),
            "referred_by": _rows(
                Referral.objects.filter(referred=member),
                "status",
                "created_at",
                "resolved_at",
                "referred_points",
            ),
            "referred": _rows(
                Referral.objects.filter(referrer=member).order_by("created_at", "id"),
                "status",
                "created_at",
                "resolved_at",
                "referrer_points",
            ),
        },
        "activities": _rows(
            Activity.objects.filter(member=member).order_by("occurred_at", "id"),
            "activity_id",
            "shop__name",
            "activity_type__key",
            "occurred_at",
            "points",
            "capped_by",
        ),
        "messages": _rows(
            MemberMessage.objects.filter(member=member).order_by("created_at", "id"),
            "kind",
            "status",
            "to_email",
            "subject",
            "created_at",
            "sent_at",
        ),
    }


def _scrub_field(queryset, field: str, personal: PersonalData) -> None:
    for pk, value in queryset.values_list("pk", field).iterator():
        scrubbed = personal.scrub(value)
        if scrubbed != value:
            queryset.model.objects.filter(pk=pk).update(**{field: scrubbed})


def member_rewards_erase(member: Member, personal: PersonalData) -> None:
    """Remove the member's personal data from what the rewards app stored: the responses
    stored for idempotent replays (they name the member), the emails sent to them, the CSV
    uploads and their error reports, and the nightly run log's error texts. Ledger, lots,
    purchases and every amount stay as they are."""
    for model, member_filter in (
        (Purchase, Q(member=member)),
        (Refund, Q(purchase__member=member)),
        (Redemption, Q(member=member)),
        (Activity, Q(member=member)),
    ):
        _scrub_field(model.objects.filter(member_filter), "response", personal)
    # The emails sent: the address each went to (whatever the member's address was then),
    # and the subject, the data it was built from and a mail server's refusal, which may
    # name them. Kind, status and times stay, as the record that they were sent.
    messages = MemberMessage.objects.filter(member=member)
    messages.exclude(to_email="").update(to_email="")
    for field in ("subject", "detail", "data"):
        _scrub_field(messages, field, personal)
    # A merge's reason is staff's free text about both members.
    _scrub_field(
        MemberMerge.objects.filter(Q(source=member) | Q(target=member)), "reason", personal
    )
    # Other members' entries never name this member; the CSV uploads may, in any file.
    for csv_import in CsvImport.objects.only("pk").iterator():
        csv_import_erase(csv_import.pk, personal)
    _scrub_field(JobRun.objects.exclude(error=""), "error", personal)


def csv_import_erase(csv_import_id: int, personal: PersonalData) -> None:
    """Take the member's personal data out of a stored CSV upload and its report. In the
    file, each row naming the member (a cell equal to their external id or email) has those
    cells and their name replaced (the external id by the pseudonym, the rest emptied), so
    a re-import of the file skips the erased member's rows instead of enrolling them again;
    other rows are left as they were."""
    csv_import = CsvImport.objects.get(pk=csv_import_id)
    changed = []
    if csv_import.content is not None:
        content = csv_content_erase(bytes(csv_import.content), personal)
        if content is not None:
            csv_import.content = content
            changed.append("content")
    for field in ("errors", "failure"):
        value = getattr(csv_import, field)
        if personal.found_in(value):
            setattr(csv_import, field, personal.scrub(value))
            changed.append(field)
    if changed:
        csv_import.save(update_fields=changed)


def csv_content_erase(content: bytes, personal: PersonalData) -> bytes | None:
    """The file with the member's rows erased, or None if no row names the member."""
    text = content.decode("utf-8-sig", errors="surrogateescape")
    if not any(value and value in text for value in (personal.external_id, personal.email)):
        return None
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    found = False
    for row in csv.reader(io.StringIO(text, newline="")):
        if any(personal.names_cell(cell) for cell in row):
            found = True
            row = [_erased_cell(cell, personal) for cell in row]
        writer.writerow(row)
    if not found:
        return None
    return out.getvalue().encode("utf-8", errors="surrogateescape")


def _erased_cell(cell: str, personal: PersonalData) -> str:
    value = cell.strip()
    if value == personal.external_id:
        return personal.pseudonym
    if value and value in (personal.email, personal.name):
        return ""
    return cell
