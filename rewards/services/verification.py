"""Proof that the cached balances, the entries and the lots agree.

Set-based: each check is one grouped query over a range of member ids, so verifying
every member is a handful of queries per chunk, not a loop of queries per member.
"""

from collections import defaultdict
from collections.abc import Iterator

from django.db.models import Case, F, IntegerField, Q, Sum, Value, When
from django.db.models.functions import Coalesce

from members.models import Member
from rewards.models import LedgerEntry, LotMovement, MemberMerge, PointLot, Redemption

Kind = LedgerEntry.Kind


def _sums(queryset, group: str, **sums) -> dict[int, dict[str, int]]:
    rows = queryset.values(group).annotate(**{k: Coalesce(v, Value(0)) for k, v in sums.items()})
    return {row[group]: row for row in rows}


def ledger_problems(member_ids: list[int]) -> dict[int, list[str]]:
    """Every way the ledger of these members fails to reconcile, as sentences."""
    members = Member.objects.filter(pk__in=member_ids).values(
        "pk", "points_available", "points_pending", "points_held", "points_owed", "lifetime_earned"
    )
    entries = _sums(
        LedgerEntry.objects.filter(member_id__in=member_ids),
        "member_id",
        sum_points=Sum("points"),
        sum_held=Sum("held_change"),
        sum_owed=Sum("owed_change"),
        sum_earned=Sum(
            Case(
                When(kind__in=[Kind.EARN, Kind.BONUS], then=F("points")),
                When(kind=Kind.REFUND, then=F("points") - F("owed_change")),
                default=Value(0),
                output_field=IntegerField(),
            )
        ),
    )
    lots = _sums(
        PointLot.objects.filter(member_id__in=member_ids),
        "member_id",
        sum_remaining=Sum("remaining"),
        sum_pending=Sum("remaining", filter=Q(is_pending=True)),
    )
    # A merge moves the source's lifetime earned points to the target (MemberMerge).
    lifetime_in = _sums(
        MemberMerge.objects.filter(target_id__in=member_ids),
        "target_id",
        sum_points=Sum("lifetime_moved"),
    )
    lifetime_out = _sums(
        MemberMerge.objects.filter(source_id__in=member_ids),
        "source_id",
        sum_points=Sum("lifetime_moved"),
    )
    holds = _sums(
        Redemption.objects.filter(member_id__in=member_ids, status=Redemption.Status.HELD),
        "member_id",
        sum_points=Sum("points"),
    )
    moved_by_lot = _sums(
        LotMovement.objects.filter(lot__member_id__in=member_ids),
        "lot_id",
        sum_points=Sum("points"),
    )
    moved_by_entry = _sums(
        LotMovement.objects.filter(entry__member_id__in=member_ids),
        "entry_id",
        sum_points=Sum("points"),
    )

    problems: dict[int, list[str]] = defaultdict(list)
    empty = defaultdict(int)
    for m in members:
        pk = m["pk"]
        owned = m["points_available"] + m["points_pending"]
        e, lot_sums, hold = entries.get(pk, empty), lots.get(pk, empty), holds.get(pk, empty)
        checks = [
            ("available + pending", owned, "the sum of entries", e["sum_points"]),
            ("available + pending", owned, "the sum of remaining lots", lot_sums["sum_remaining"]),
            ("pending", m["points_pending"], "the pending lots", lot_sums["sum_pending"]),
            ("held", m["points_held"], "the sum of hold entries", e["sum_held"]),
            ("held", m["points_held"], "the open holds", hold["sum_points"]),
            ("owed", m["points_owed"], "the sum of owed entries", e["sum_owed"]),
            (
                "lifetime earned",
                m["lifetime_earned"],
                "earned minus reversed",
                e["sum_earned"]
                + lifetime_in.get(pk, empty)["sum_points"]
                - lifetime_out.get(pk, empty)["sum_points"],
            ),
        ]
        for left, left_value, right, right_value in checks:
            if left_value != right_value:
                problems[pk].append(f"{left} is {left_value} but {right} is {right_value}.")

    lot_rows = PointLot.objects.filter(member_id__in=member_ids).values_list(
        "pk", "member_id", "points", "remaining", "entry_id"
    )
    created_by_entry = {}
    for lot_id, member_id, points, remaining, entry_id in lot_rows:
        created_by_entry[entry_id] = points
        expected = points + moved_by_lot.get(lot_id, empty)["sum_points"]
        if remaining != expected:
            problems[member_id].append(
                f"lot {lot_id} has {remaining} points left but its movements leave {expected}."
            )
    entry_rows = LedgerEntry.objects.filter(member_id__in=member_ids).values_list(
        "pk", "member_id", "points"
    )
    for entry_id, member_id, points in entry_rows:
        traced = (
            created_by_entry.get(entry_id, 0) + moved_by_entry.get(entry_id, empty)["sum_points"]
        )
        if points != traced:
            problems[member_id].append(
                f"entry {entry_id} moves {points} points but its lots show {traced}."
            )
    return dict(problems)


def member_ledger_problems(member: Member) -> list[str]:
    return ledger_problems([member.pk]).get(member.pk, [])


def member_id_chunks(chunk_size: int = 2000) -> Iterator[list[int]]:
    """All member ids in ascending chunks, read by keyset so memory stays flat."""
    last = 0
    while True:
        ids = list(
            Member.objects.filter(pk__gt=last)
            .order_by("pk")
            .values_list("pk", flat=True)[:chunk_size]
        )
        if not ids:
            return
        yield ids
        last = ids[-1]
