"""Segments: create, copy, and recompute memberships set-based."""

from collections import Counter
from datetime import date, datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from loyalty_engine.events.outbox import events_bulk_emit
from members.models import Segment, SegmentMembership
from members.segments import BUILTIN_SEGMENTS, conditions_validate
from metrics.segments.selectors import segment_fields_get, segment_member_ids
from rewards.models import EarnRule
from rewards.selectors import program_get

WRITE_BATCH = 5000


def segment_membership_changed(
    *, segment: Segment, entered: list[int], left: list[int], day: date
) -> None:
    """Called once per segment and recompute, inside its transaction, with the ids of the
    members who entered and left. The one hook for what follows a membership change: the
    event outbox emits segment.entered and segment.left from here, one insert for all."""
    data = {"segment_id": segment.pk, "segment": segment.name, "day": day.isoformat()}
    events_bulk_emit(
        [{"type": "segment.entered", "member_id": pk, "data": data} for pk in entered]
        + [{"type": "segment.left", "member_id": pk, "data": data} for pk in left]
    )


def segment_create(
    *, name: str, conditions: list, description: str = "", is_active: bool = True
) -> Segment:
    """A new segment with validated conditions (raises members.segments.ConditionError)."""
    return Segment.objects.create(
        name=name,
        description=description,
        conditions=conditions_validate(conditions),
        is_active=is_active,
    )


def segment_copy(*, segment: Segment, name: str | None = None) -> Segment:
    """A staff-owned, active copy of a segment (how built-in segments are used)."""
    base = name or f"{segment.name} (copy)"
    candidate, number = base, 1
    while Segment.objects.filter(name=candidate).exists():
        number += 1
        candidate = f"{base} {number}"
    return segment_create(
        name=candidate,
        conditions=segment.conditions,
        description=segment.description,
    )


def _memberships_write(*, segment: Segment, member_ids, day: date, now: datetime) -> Counter:
    current = set(
        SegmentMembership.objects.filter(segment=segment, left_on__isnull=True).values_list(
            "member_id", flat=True
        )
    )
    wanted = set(int(m) for m in member_ids)
    entered = sorted(wanted - current)
    left = sorted(current - wanted)
    for start in range(0, len(left), WRITE_BATCH):
        SegmentMembership.objects.filter(
            segment=segment, left_on__isnull=True, member_id__in=left[start : start + WRITE_BATCH]
        ).update(left_on=day)
    SegmentMembership.objects.bulk_create(
        [SegmentMembership(segment=segment, member_id=m, entered_on=day) for m in entered],
        batch_size=WRITE_BATCH,
    )
    segment.computed_at = now
    segment.save(update_fields=["computed_at"])
    segment_membership_changed(segment=segment, entered=entered, left=left, day=day)
    return Counter(entered=len(entered), left=len(left), members=len(wanted))


@transaction.atomic
def segments_recompute(
    *, as_of: datetime | None = None, segment_ids: list[int] | None = None
) -> Counter:
    """Recompute the memberships of every active, non-built-in segment (or those named)
    as of `as_of` (default now): one read of every member's fields, then per segment a
    set difference with the current memberships. Members who no longer meet the conditions
    leave on that day; those who newly do enter. The members of a segment switched off
    leave on that day too (switched on again, they enter again). Safe to run twice."""
    now = timezone.now()
    program = program_get()
    day = (as_of or now).astimezone(program.tz).date()
    segments = Segment.objects.filter(is_active=True, is_builtin=False).order_by("pk")
    if segment_ids is not None:
        segments = segments.filter(pk__in=segment_ids)
    segments = list(segments.select_for_update())
    outcome = Counter()
    # A segment switched off has no members: those it still counts leave today (once).
    switched_off = SegmentMembership.objects.filter(
        left_on__isnull=True, segment__is_active=False, segment__is_builtin=False
    )
    if segment_ids is not None:
        switched_off = switched_off.filter(segment_id__in=segment_ids)
    off_ids = set(switched_off.values_list("segment_id", flat=True).distinct())
    for segment in Segment.objects.filter(pk__in=off_ids).order_by("pk").select_for_update():
        changed = _memberships_write(segment=segment, member_ids=[], day=day, now=now)
        outcome["left"] += changed["left"]
    if not segments:
        return outcome
    fields = segment_fields_get(day=day, tz=program.tz, default_language=program.default_language)
    for segment in segments:
        ids = segment_member_ids(conditions=conditions_validate(segment.conditions), fields=fields)
        changed = _memberships_write(segment=segment, member_ids=ids, day=day, now=now)
        outcome["segments"] += 1
        outcome["entered"] += changed["entered"]
        outcome["left"] += changed["left"]
    return outcome


def segments_nightly_recompute(*, after: int, upto: int | None, as_of: datetime) -> Counter:
    """The `segments` nightly job (one chunk; the id range is unused)."""
    outcome = segments_recompute(as_of=as_of)
    outcome["items"] = outcome["entered"] + outcome["left"]
    return outcome


WINBACK_SEGMENT = "At risk (win-back)"
WINBACK_RULE = "Win-back: double points for at-risk members"


@transaction.atomic
def winback_campaign_create() -> EarnRule:
    """A win-back campaign for review: an *inactive* ×2 campaign earn rule limited to the
    at-risk members (a staff copy of the built-in "At risk" segment, made and computed if
    missing). Staff review it (window, multiplier) and switch it on; nothing changes for a
    member until then. Another click makes another draft rule."""
    segment = Segment.objects.filter(name=WINBACK_SEGMENT, is_builtin=False).first()
    if segment is None:
        template = Segment.objects.filter(name="At risk", is_builtin=True).first()
        conditions = template.conditions if template else BUILTIN_SEGMENTS[0]["conditions"]
        segment = segment_create(
            name=WINBACK_SEGMENT,
            conditions=conditions,
            description="Made by the dashboard's win-back button from the built-in At risk.",
        )
        segments_recompute(segment_ids=[segment.pk])
    name, number = WINBACK_RULE, 1
    while EarnRule.objects.filter(name=name).exists():
        number += 1
        name = f"{WINBACK_RULE} ({number})"
    rule = EarnRule.objects.create(
        name=name[:100],
        kind=EarnRule.Kind.CAMPAIGN_MULTIPLIER,
        multiplier=Decimal(2),
        is_active=False,
    )
    rule.segments.add(segment)
    return rule
