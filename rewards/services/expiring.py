"""points.expiring: told once per member and expiry date, `expiring_notice_days` before.

A nightly job (rewards/jobs.py, "expiring"), set-based: per batch of members, one grouped
read of their lots expiring within the notice window, one insert of the events. The
event's dedupe key (member, expiry date in the program's time zone) makes a second run,
or the next night with the same lots, add nothing."""

from collections import Counter, defaultdict
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Sum

from loyalty_engine.events.outbox import events_bulk_emit
from loyalty_engine.events.services import rfc3339
from members.models import Member
from rewards.models import PointLot
from rewards.selectors import program_get

BATCH_SIZE = 2000


def points_expiring_dedupe_key(member_id: int, day) -> str:
    return f"points.expiring:{member_id}:{day.isoformat()}"


def points_expiring_notify(*, after: int = 0, upto: int | None = None, as_of: datetime) -> Counter:
    """Emit points.expiring for every member with points expiring in
    (as_of, as_of + expiring_notice_days], per expiry date. Erased members get none.
    Returns the counts ("items": events written)."""
    program = program_get()
    horizon = as_of + timedelta(days=program.expiring_notice_days)
    outcome = Counter()
    last = after
    while True:
        lots = PointLot.objects.filter(
            member_id__gt=last, remaining__gt=0, expires_at__gt=as_of, expires_at__lte=horizon
        ).exclude(member__status=Member.Status.ERASED)
        if upto is not None:
            lots = lots.filter(member_id__lte=upto)
        member_ids = list(
            lots.order_by("member_id").values_list("member_id", flat=True).distinct()[:BATCH_SIZE]
        )
        if not member_ids:
            return outcome
        last = member_ids[-1]
        with transaction.atomic():
            rows = (
                lots.filter(member_id__in=member_ids)
                .values(
                    "member_id",
                    "expires_at",
                    "member__points_available",
                    "member__points_pending",
                    "member__points_held",
                    "member__points_owed",
                    "member__lifetime_earned",
                )
                .annotate(points=Sum("remaining"))
                .order_by("member_id", "expires_at")
            )
            by_day: dict[tuple[int, object], dict] = defaultdict(dict)
            for row in rows:
                day = row["expires_at"].astimezone(program.tz).date()
                entry = by_day[(row["member_id"], day)]
                entry["points"] = entry.get("points", 0) + row["points"]
                entry.setdefault("expires_at", row["expires_at"])
                entry["balance"] = {
                    "available": row["member__points_available"],
                    "pending": row["member__points_pending"],
                    "held": row["member__points_held"],
                    "owed": row["member__points_owed"],
                    "lifetime_earned": row["member__lifetime_earned"],
                }
            events_bulk_emit(
                [
                    {
                        "type": "points.expiring",
                        "member_id": member_id,
                        "occurred_at": as_of,
                        "dedupe_key": points_expiring_dedupe_key(member_id, day),
                        "data": {
                            "points": entry["points"],
                            "expires_at": rfc3339(entry["expires_at"]),
                            "expires_on": day.isoformat(),
                            "balance": entry["balance"],
                        },
                    }
                    for (member_id, day), entry in by_day.items()
                ],
                ignore_duplicates=True,
            )
        outcome["items"] += len(by_day)
