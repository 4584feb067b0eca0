"""Earn rules and rewards limited to segments (members.Segment), as they can be to tiers.

A limited rule or reward applies to members who are, when they earn or redeem, in at
least one of its segments (the memberships metrics computes nightly and on demand).

The check costs nothing while no rule or reward is limited: querysets carry an
EXISTS flag (`segments_flag`) in the query that loads them, and the member's memberships
are read, in one query, only when something loaded is limited (`member_segments_attach`).
A rule or reward loaded without the flag counts as unlimited only if it has no segments;
a limited one whose membership was not attached (the history import, which replays the
past) does not apply.
"""

from collections import defaultdict

from django.db.models import Exists, OuterRef, Q, QuerySet

from members.models import Member, SegmentMembership


def segments_flag(queryset: QuerySet) -> QuerySet:
    through = queryset.model.segments.through
    owner = f"{queryset.model._meta.model_name}_id"
    return queryset.annotate(has_segments=Exists(through.objects.filter(**{owner: OuterRef("pk")})))


def segments_allowing(queryset: QuerySet, *, member: Member | None) -> QuerySet:
    """The items of a `segments_flag`ged queryset whose limit lets the member through, decided
    in the query (as `member_segments_attach` and `segment_limit_allows` decide after it), so
    the result can be paged: the unlimited ones, and the limited ones while the member is in
    one of their segments."""
    if member is None:
        return queryset.filter(has_segments=False)
    through = queryset.model.segments.through
    owner = f"{queryset.model._meta.model_name}_id"
    current = SegmentMembership.objects.filter(member=member, left_on__isnull=True).values(
        "segment_id"
    )
    in_segment = Exists(through.objects.filter(**{owner: OuterRef("pk")}, segment_id__in=current))
    return queryset.filter(Q(has_segments=False) | in_segment)


def member_segments_attach(items: list, *, member: Member | None) -> None:
    """Set `member_in_segment` on each limited item (flagged by `segments_flag`): whether
    the member is currently in one of its segments."""
    limited = [item for item in items if getattr(item, "has_segments", False)]
    if not limited:
        return
    model = type(limited[0])
    through = model.segments.through
    owner = f"{model._meta.model_name}_id"
    allowed: dict[int, set[int]] = defaultdict(set)
    if member is not None:
        current = SegmentMembership.objects.filter(member=member, left_on__isnull=True).values(
            "segment_id"
        )
        for owner_id, segment_id in through.objects.filter(
            **{f"{owner}__in": [item.pk for item in limited]}, segment_id__in=current
        ).values_list(owner, "segment_id"):
            allowed[owner_id].add(segment_id)
    for item in limited:
        item.member_in_segment = bool(allowed[item.pk])


def segment_limit_allows(item) -> bool:
    """Whether a rule's or reward's segment limit lets the attached member through."""
    if not getattr(item, "has_segments", False):
        return True
    return getattr(item, "member_in_segment", False)


def segment_names(item) -> list[str]:
    return [segment.name for segment in item.segments.all()] if item.has_segments else []
