"""Activities that earn points: a shop reports one (`POST /api/v1/activities`), or a survey
answer counts as one (`activity_for_feedback_record`, called by the metrics app).

An activity is recorded once per (shop, activity_id), like a purchase per order id. It earns
its type's points as a bonus lot (available at once, expiring by the program's policy),
unless a cap of its type is reached: then it is recorded with 0 points and the cap that
stopped it, which is an answer, not an error.
"""

from datetime import datetime

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty_engine.db import durable_write
from members.models import Member, Shop
from rewards import ledger_words
from rewards.errors import ActivityTypeUnknown, MemberNotActive
from rewards.models import Activity, ActivityType, EarnAward
from rewards.selectors import program_get
from rewards.services.bonuses import BonusWords, bonus_award
from rewards.services.idempotency import WriteResult, replay_or_none, write_or_replay
from rewards.services.ledger import Actor, balance_save, member_lock_by_external_id


def activity_record(
    *,
    shop: Shop,
    member_external_id: str,
    activity_id: str,
    type_key: str,
    occurred_at: datetime | None,
    request_hash: str,
    as_of: datetime | None = None,
) -> WriteResult:
    """Record an activity and earn its points, exactly once per (shop, activity_id).

    A replay with the same request hash returns the stored response; another request under
    the same id raises IdempotencyConflict. Raises ActivityTypeUnknown (no active or
    inactive type has the key), MemberNotFound, MemberNotActive."""
    return write_or_replay(
        lambda: _activity_record(
            shop=shop,
            member_external_id=member_external_id,
            activity_id=activity_id,
            type_key=type_key,
            occurred_at=occurred_at,
            request_hash=request_hash,
            as_of=as_of or timezone.now(),
        ),
        find_existing=lambda: Activity.objects.filter(shop=shop, activity_id=activity_id).first(),
        request_hash=request_hash,
        refusals=(MemberNotActive,),
    )


@durable_write
def _activity_record(**fields) -> WriteResult:
    return activity_write(**fields)


def activity_write(
    *, shop, member_external_id, activity_id, type_key, occurred_at, request_hash, as_of
) -> WriteResult:
    """The body of `activity_record`, inside the caller's transaction."""
    activity_type = ActivityType.objects.filter(key=type_key).first()
    if activity_type is None:
        raise ActivityTypeUnknown.on_field("type", _("No activity type has this key."))
    member = member_lock_by_external_id(member_external_id)
    if member.status != Member.Status.ACTIVE:
        replay = replay_or_none(
            Activity.objects.filter(shop=shop, activity_id=activity_id).first(), request_hash
        )
        if replay:
            return replay
        raise MemberNotActive()
    activity = activity_earn(
        member,
        shop=shop,
        activity_type=activity_type,
        activity_id=activity_id,
        occurred_at=occurred_at or as_of,
        as_of=as_of,
        request_hash=request_hash,
    )
    return WriteResult(record=activity, replayed=False)


def activity_cap_reached(member: Member, *, activity_type: ActivityType, local_date) -> str:
    """The cap of the type that a further earning activity on `local_date` would pass
    (Activity.Cap), or "" if none: counted from the member's earning activities, under
    the member's lock."""
    if not activity_type.is_active:
        return Activity.Cap.INACTIVE
    earned = Activity.objects.filter(member=member, activity_type=activity_type, points__gt=0)
    caps = (
        (Activity.Cap.DAY, activity_type.cap_per_day, Q(local_date=local_date)),
        (
            Activity.Cap.MONTH,
            activity_type.cap_per_month,
            Q(local_date__year=local_date.year, local_date__month=local_date.month),
        ),
        (Activity.Cap.TOTAL, activity_type.cap_total, Q()),
    )
    for cap, limit, period in caps:
        if limit is not None and earned.filter(period).count() >= limit:
            return cap
    return Activity.Cap.NONE


def activity_earn(
    member: Member,
    *,
    shop: Shop,
    activity_type: ActivityType,
    activity_id: str,
    occurred_at: datetime,
    as_of: datetime,
    request_hash: str,
) -> Activity:
    """Record an activity of a locked member and give its points within the caps, inside
    the caller's transaction. The points are dated when they are given (`as_of`), so an
    activity reported late never earns points that would already have expired."""
    program = program_get()
    local_date = occurred_at.astimezone(program.tz).date()
    capped_by = activity_cap_reached(member, activity_type=activity_type, local_date=local_date)
    activity = Activity(
        shop=shop,
        member=member,
        activity_type=activity_type,
        activity_id=activity_id,
        occurred_at=occurred_at,
        local_date=local_date,
        created_at=as_of,
        capped_by=capped_by,
        request_hash=request_hash,
        response={},
    )
    if not capped_by:
        points = activity_type.points
        activity.points = points
        activity.entry = bonus_award(
            member,
            program=program,
            words=BonusWords(
                points=points,
                words=ledger_words.activity_bonus(points=points, activity_type=activity_type),
                description=_("+%(points)d for %(name)s")
                % {"points": points, "name": activity_type.name},
                reference=f"activity:{activity_type.key}",
            ),
            as_of=as_of,
            actor=Actor.for_shop(shop),
            source=EarnAward.Source.ACTIVITY,
        )
        balance_save(member)
    activity.response = activity_response(activity)
    activity.save()
    return activity


def activity_response(activity: Activity) -> dict:
    from rest_framework import serializers

    timestamp = serializers.DateTimeField().to_representation
    return {
        "activity_id": activity.activity_id,
        "member": activity.member.external_id,
        "type": activity.activity_type.key,
        "occurred_at": timestamp(activity.occurred_at),
        "points": activity.points,
        "capped_by": activity.capped_by or None,
        "reason": str(Activity.Cap(activity.capped_by).label) if activity.capped_by else None,
    }


def activity_for_feedback_record(
    *,
    feedback_id: int,
    shop: Shop,
    member: Member,
    kind: str,
    answered_at: datetime,
    as_of: datetime,
) -> Activity | None:
    """A survey answer earns the points of the activity type staff set to earn on it (the
    first such type by key), within its caps: inside the feedback's transaction, once per
    answer (its activity id is `feedback:<id>`). None if no type earns on this kind."""
    activity_type = (
        ActivityType.objects.filter(is_active=True, earns_on_feedback__in=[kind, "any"])
        .order_by("key")
        .first()
    )
    if activity_type is None:
        return None
    member = Member.objects.select_for_update().get(pk=member.pk)
    if member.status != Member.Status.ACTIVE:
        return None
    return activity_earn(
        member,
        shop=shop,
        activity_type=activity_type,
        activity_id=f"feedback:{feedback_id}",
        occurred_at=answered_at,
        as_of=as_of,
        request_hash="",
    )
