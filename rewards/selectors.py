import calendar
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Count, Exists, F, FilteredRelation, Min, OuterRef, Q, QuerySet, Sum

from loyalty_engine.rows import Columns, VendorCache, rows_fetch, value_converter
from members.auth import member_by_pk
from members.models import Member
from rewards.errors import MemberNotFound, RewardNotFound, VoucherNotFound
from rewards.models import (
    EarnAward,
    EarnRule,
    JobRun,
    LedgerEntry,
    MemberTier,
    Milestone,
    MilestoneAward,
    PointLot,
    Program,
    Purchase,
    Redemption,
    Reward,
    Tier,
    TierChange,
    Voucher,
)
from rewards.program_flags import program_flags_sql
from rewards.segments import member_segments_attach, segments_allowing, segments_flag
from rewards.services.catalog import reward_unavailable_reason
from rewards.vouchers import voucher_code_normalize


def program_get() -> Program:
    """The program's settings (created with defaults on first use)."""
    program, _ = Program.objects.get_or_create(pk=1)
    return program


def program_for_purchase_get() -> Program:
    """The program's settings, each with whether any tier, active purchase rule and active
    milestone exists (`has_tiers`, `has_purchase_rules`, `has_milestones`), in one query:
    a purchase skips the reads of what is not configured."""
    program = next(iter(Program.objects.raw(_PROGRAM_FOR_PURCHASE_SQL, _FLAGS_PARAMS)), None)
    if program is None:
        program_get()
        program = next(iter(Program.objects.raw(_PROGRAM_FOR_PURCHASE_SQL, _FLAGS_PARAMS)))
    return program


# Written out rather than composed with Exists(): on every purchase, Django compiling the
# three subqueries cost more CPU than the three reads they save (pyinstrument, 2,000 earns).
_FLAGS_SQL, _FLAGS_PARAMS = program_flags_sql()
_PROGRAM_FOR_PURCHASE_SQL = f"""
    SELECT program.*, {_FLAGS_SQL}
    FROM {Program._meta.db_table} AS program
    WHERE program.id = 1
"""


def member_get(*, external_id: str) -> Member:
    try:
        return Member.objects.get(external_id=external_id)
    except Member.DoesNotExist:
        raise MemberNotFound() from None


def member_expiring_list(*, member: Member) -> list[dict]:
    """Points still in the member's lots, grouped by expiry instant, soonest first.

    Lots that never expire are left out. Points whose expiry has passed but that the
    nightly expiry has not processed yet are listed too, with their (past) date, so the
    groups always add up to the balance.
    """
    if not member.points_available and not member.points_pending:
        # The lots hold exactly the cached available and pending points (verify_ledger
        # proves it): with none, no lot has points left, and there is nothing to read.
        return []
    query, convert = _expiring_query.get()
    return _expiring_groups(rows_fetch(query, [member.pk]), convert)


def _expiring_groups(rows, convert) -> list[dict]:
    """(expires_at, points) rows, soonest first, as the balance lists them."""
    return [
        # PostgreSQL sums a bigint column as numeric.
        {"points": int(points), "expires_at": convert(at)}
        for at, points in rows
        if at is not None
    ]


def _expiring_sql(member: str, *, condition: str = "") -> str:
    """The open lots of `member` (an SQL expression for its id) summed per expiry
    instant, as `expires_at` and `points`; lots that never expire are left out."""
    quote = connection.ops.quote_name
    meta = PointLot._meta
    expires, remaining, member_id = (
        quote(meta.get_field(name).column) for name in ("expires_at", "remaining", "member")
    )
    return (
        f"SELECT lots.{expires} AS expires_at, SUM(lots.{remaining}) AS points "
        f"FROM {quote(meta.db_table)} AS lots WHERE lots.{member_id} = {member} "
        f"AND lots.{remaining} > 0 AND lots.{expires} IS NOT NULL{condition} "
        f"GROUP BY lots.{expires}"
    )


def _expiring_query_build():
    """The balance read's expiring points, built once (issue 18)."""
    sql = f"{_expiring_sql('%s')} ORDER BY expires_at"
    return sql, value_converter(PointLot, "expires_at", "lots")


_expiring_query = VendorCache(_expiring_query_build)


def member_with_expiring_get(pk: int) -> Member | None:
    """As `member_by_pk`, with the member's `member_expiring_list` read in the same
    statement on PostgreSQL (a LATERAL join): the balance read's one round trip (issue
    18), and the balance and its expiring groups from one snapshot. `member_balance_get`
    takes the groups from the member (`expiring_read`). Elsewhere, the member alone."""
    query = _member_with_expiring_query.get()
    if query is None:
        return member_by_pk(pk)
    sql, columns, convert = query
    rows = rows_fetch(sql, [pk])
    if not rows:
        return None
    member = columns.instance(rows[0])
    member.expiring_read = _expiring_groups((row[columns.end :] for row in rows), convert)
    return member


def _member_with_expiring_query_build():
    if connection.vendor != "postgresql":
        return None  # SQLite has no LATERAL; in-process, a second statement is no round trip
    quote = connection.ops.quote_name
    columns = Columns.of(Member, "member")
    available, pending, pk = (
        f"member.{quote(Member._meta.get_field(name).column)}"
        for name in ("points_available", "points_pending", "id")
    )
    # As member_expiring_list: with no points available or pending, no lot holds any.
    groups = _expiring_sql(pk, condition=f" AND ({available} <> 0 OR {pending} <> 0)")
    sql = (
        f"SELECT {columns.sql}, lot.expires_at, lot.points "
        f"FROM {quote(Member._meta.db_table)} AS member "
        f"LEFT JOIN LATERAL ({groups}) AS lot ON true "
        f"WHERE {pk} = %s ORDER BY lot.expires_at"
    )
    return sql, columns, value_converter(PointLot, "expires_at", "lots")


_member_with_expiring_query = VendorCache(_member_with_expiring_query_build)


def member_balance_get(*, member: Member) -> dict:
    expiring = getattr(member, "expiring_read", None)
    return {
        "available": member.points_available,
        "pending": member.points_pending,
        "held": member.points_held,
        "owed": member.points_owed,
        "lifetime_earned": member.lifetime_earned,
        "expiring": member_expiring_list(member=member) if expiring is None else expiring,
    }


def ledger_entry_list(*, member: Member) -> QuerySet[LedgerEntry]:
    """The member's ledger, newest first."""
    return LedgerEntry.objects.filter(member=member).order_by("-id")


# The reward catalog and vouchers.


def reward_get(*, reward_id: int) -> Reward:
    reward = segments_flag(Reward.objects.prefetch_related("tiers")).filter(pk=reward_id).first()
    if reward is None:
        raise RewardNotFound()
    return reward


def reward_list_open(*, as_of: datetime) -> QuerySet[Reward]:
    """Active rewards whose [starts_at, ends_at) window contains `as_of`, cheapest first."""
    return segments_flag(
        Reward.objects.filter(is_active=True)
        .filter(Q(starts_at__isnull=True) | Q(starts_at__lte=as_of))
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=as_of))
        .prefetch_related("tiers")
        .order_by("points_cost", "name")
    )


def milestone_open_list(*, member: Member | None, moment: datetime) -> QuerySet[Milestone]:
    """Active milestones open at `moment` that the member may reach: those limited to
    segments only while the member is in one of them (rewards.segments)."""
    return segments_allowing(
        segments_flag(
            Milestone.objects.filter(is_active=True)
            .filter(Q(starts_at__isnull=True) | Q(starts_at__lte=moment))
            .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=moment))
            .select_related("reward")
        ),
        member=member,
    )


def member_tier_id_get(*, member: Member) -> int | None:
    """The member's tier id: the stored one, or the entry tier's (threshold 0) for a member
    the engine has not placed yet (as `rewards.services.tiers.member_tier_get`)."""
    state = MemberTier.objects.filter(member=member).values_list("tier_id", flat=True)
    if state:
        return state[0]
    entry = Tier.objects.filter(threshold=0).order_by("-rank").values_list("pk", flat=True)
    return entry.first()


def member_vouchers_held(*, member: Member, reward_ids: list[int]) -> dict[int, int]:
    """Vouchers of each reward the member holds, used or not; cancelled ones don't count."""
    rows = (
        Voucher.objects.filter(member=member, reward_id__in=reward_ids)
        .exclude(status=Voucher.Status.CANCELLED)
        .values("reward_id")
        .annotate(held=Count("id"))
    )
    return {row["reward_id"]: row["held"] for row in rows}


def member_catalog_get(*, member: Member, as_of: datetime) -> dict:
    """The catalog as the member sees it: every reward on offer now, including those for
    other tiers or out of stock, each with whether the member can redeem it and why not.
    Four queries, however many rewards."""
    rewards = list(reward_list_open(as_of=as_of))
    member_segments_attach(rewards, member=member)
    tier_id = member_tier_id_get(member=member)
    held = member_vouchers_held(member=member, reward_ids=[reward.pk for reward in rewards])
    items = []
    for reward in rewards:
        reason = reward_unavailable_reason(
            reward, member_tier_id=tier_id, vouchers_held=held.get(reward.pk, 0), as_of=as_of
        )
        items.append(
            {
                "reward": reward,
                "tiers": [tier.name for tier in reward.tiers.all()],
                "for_selected_members": bool(reward.has_segments),
                "affordable": member.points_available >= reward.points_cost,
                "available": reason is None,
                "unavailable_reason": (
                    {"code": reason.code, "message": reason.message} if reason else None
                ),
            }
        )
    return {"points_available": member.points_available, "rewards": items}


def voucher_get(*, code: str) -> Voucher:
    """The voucher with this code however it was typed (see `rewards.vouchers`)."""
    normalized = voucher_code_normalize(code)
    voucher = (
        Voucher.objects.select_related("reward", "member", "used_by")
        .filter(code=normalized)
        .first()
        if normalized
        else None
    )
    if voucher is None:
        raise VoucherNotFound()
    return voucher


def voucher_list(*, member: Member) -> QuerySet[Voucher]:
    """The member's vouchers, newest first."""
    return (
        Voucher.objects.filter(member=member)
        .select_related("reward", "member", "used_by")
        .order_by("-issued_at", "-id")
    )


def tier_evaluation_due_member_id_list(
    *, as_of: datetime, after: int = 0, upto: int | None = None
) -> QuerySet[int]:
    """Ids of active members not yet evaluated for tiers as of `as_of` (none while no tier
    is configured), within `after < id <= upto`, ascending. A member evaluated at or after
    `as_of` drops out, so a rerun of the same night only finds the members left over."""
    members = Member.objects.filter(status=Member.Status.ACTIVE, pk__gt=after)
    if upto is not None:
        members = members.filter(pk__lte=upto)
    if not Tier.objects.exists():
        return members.none().values_list("pk", flat=True)
    # The tier state is joined with the members' lower bound too. PostgreSQL does not carry
    # `id > after` across the join, so a merge join read the states from the first member
    # on, at every chunk boundary of the plan: quadratic in the members (the run for 1M
    # members took 129 s, 63 s with the bound, where both sides start at `after`).
    members = members.annotate(
        state=FilteredRelation("tier_state", condition=Q(tier_state__member_id__gt=after))
    )
    due = Q(state__isnull=True) | Q(state__evaluated_at__isnull=True)
    due |= Q(state__evaluated_at__lt=as_of)
    return members.filter(due).values_list("pk", flat=True).order_by("pk")


def birthday_due_member_id_list(
    *, as_of: datetime, after: int = 0, upto: int | None = None
) -> QuerySet[int]:
    """Ids of active members whose birthday falls in the catch-up days up to `as_of`'s date
    in the program's time zone (29 February counting on 28 February in common years) and
    who have had no birthday bonus this year, within `after < id <= upto`, ascending. Empty
    while no birthday rule is active."""
    from rewards.services.bonuses import BIRTHDAY_CATCH_UP

    members = Member.objects.filter(status=Member.Status.ACTIVE, pk__gt=after)
    if upto is not None:
        members = members.filter(pk__lte=upto)
    if not EarnRule.objects.filter(is_active=True, kind=EarnRule.Kind.BIRTHDAY_BONUS).exists():
        return members.none().values_list("pk", flat=True)
    today = as_of.astimezone(program_get().tz).date()
    days = [today - timedelta(days=back) for back in range(BIRTHDAY_CATCH_UP.days)]
    born_on = Q(pk__in=[])
    for day in days:
        if day.year != today.year:
            continue
        born_on |= Q(birth_date__month=day.month, birth_date__day=day.day)
        if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
            born_on |= Q(birth_date__month=2, birth_date__day=29)
    given = EarnAward.objects.filter(
        member=OuterRef("pk"),
        rule__kind=EarnRule.Kind.BIRTHDAY_BONUS,
        local_date__year=today.year,
    )
    return (
        members.filter(born_on).exclude(Exists(given)).values_list("pk", flat=True).order_by("pk")
    )


def expiry_due_member_id_list(
    *, as_of: datetime, after: int = 0, upto: int | None = None
) -> QuerySet[int]:
    """Ids of members with points left in lots whose expiry is at or before `as_of`, within
    `after < id <= upto`, distinct and ascending (index lot_open_spend_order)."""
    lots = PointLot.objects.filter(remaining__gt=0, expires_at__lte=as_of, member_id__gt=after)
    if upto is not None:
        lots = lots.filter(member_id__lte=upto)
    return lots.values_list("member_id", flat=True).distinct().order_by("member_id")


def release_due_member_id_sources(
    *, as_of: datetime, after: int = 0, upto: int | None = None
) -> list[QuerySet[int]]:
    """The two reasons a member is due for the release, each as ids within
    `after < id <= upto`, distinct and ascending: pending points whose returns window has
    passed by `as_of` (index lot_pending_by_member), and holds past their time limit
    (index redemption_held_by_member). A member may be in both. Read in member order, each
    can stop after its first n ids, which is how the release is planned."""
    lots = PointLot.objects.filter(
        is_pending=True, remaining__gt=0, available_at__lte=as_of, member_id__gt=after
    )
    holds = Redemption.objects.filter(
        status=Redemption.Status.HELD, hold_expires_at__lte=as_of, member_id__gt=after
    )
    if upto is not None:
        lots = lots.filter(member_id__lte=upto)
        holds = holds.filter(member_id__lte=upto)
    return [
        lots.values_list("member_id", flat=True).distinct().order_by("member_id"),
        holds.values_list("member_id", flat=True).distinct().order_by("member_id"),
    ]


def release_due_member_id_list(
    *, as_of: datetime, after: int = 0, upto: int | None = None
) -> QuerySet[int]:
    """Ids of members with pending points whose returns window has passed by `as_of`, or
    with holds past their time limit, within `after < id <= upto`, distinct and ascending:
    the union of release_due_member_id_sources."""
    lots, holds = release_due_member_id_sources(as_of=as_of, after=after, upto=upto)
    # UNION (not UNION ALL) removes the duplicates. The parts drop their ORDER BY, which
    # SQLite does not allow in the parts of a compound statement.
    return lots.order_by().union(holds.order_by()).order_by("member_id")


EXPIRING_SOON_DAYS = 30


def expiring_soon_member_list(*, as_of: datetime, days: int = EXPIRING_SOON_DAYS) -> QuerySet:
    """Members with points that expire after `as_of` and within `days` of it: one row per
    member with `member_id`, `external_id`, `email`, `points` and `first_expiry`, soonest
    first. Points held for an open redemption are not in any lot, so not listed."""
    return (
        PointLot.objects.filter(
            remaining__gt=0,
            expires_at__gt=as_of,
            expires_at__lte=as_of + timedelta(days=days),
        )
        .values("member_id")
        .annotate(
            external_id=F("member__external_id"),
            email=F("member__email"),
            points=Sum("remaining"),
            first_expiry=Min("expires_at"),
        )
        .order_by("first_expiry", "member_id")
    )


def expiring_soon_totals(*, as_of: datetime, days: int = EXPIRING_SOON_DAYS) -> dict:
    """How many members and points expire in the `days` after `as_of`."""
    totals = PointLot.objects.filter(
        remaining__gt=0,
        expires_at__gt=as_of,
        expires_at__lte=as_of + timedelta(days=days),
    ).aggregate(members=Count("member_id", distinct=True), points=Sum("remaining"))
    return {
        "expiring_soon_days": days,
        "expiring_soon_members": totals["members"],
        "expiring_soon_points": totals["points"] or 0,
    }


def job_run_list(*, job: str | None = None) -> QuerySet[JobRun]:
    """Runs of the nightly jobs, newest first."""
    runs = JobRun.objects.order_by("-started_at", "-id")
    return runs.filter(job=job) if job else runs


# The member page of the admin, for support: each list newest first (lots soonest expiry
# first), with what its rows show already joined.


def member_ledger_list(*, member: Member) -> QuerySet[LedgerEntry]:
    return ledger_entry_list(member=member).select_related("actor_shop", "actor_user")


def member_open_lot_list(*, member: Member) -> QuerySet[PointLot]:
    """Lots with points left, in the order they are spent: soonest expiry first."""
    return PointLot.objects.filter(member=member, remaining__gt=0).order_by(
        F("expires_at").asc(nulls_last=True), "earned_at", "id"
    )


def member_tier_change_list(*, member: Member) -> QuerySet[TierChange]:
    return (
        TierChange.objects.filter(member=member)
        .select_related("from_tier", "to_tier", "actor_user")
        .order_by("-changed_at", "-id")
    )


def member_purchase_list(*, member: Member) -> QuerySet[Purchase]:
    return (
        Purchase.objects.filter(member=member)
        .select_related("shop")
        .prefetch_related("refunds")
        .order_by("-occurred_at", "-id")
    )


def member_redemption_list(*, member: Member) -> QuerySet[Redemption]:
    return (
        Redemption.objects.filter(member=member)
        .select_related("shop", "reward")
        .order_by("-created_at")
    )


def member_milestone_award_list(*, member: Member) -> QuerySet[MilestoneAward]:
    return (
        MilestoneAward.objects.filter(member=member)
        .select_related("milestone", "voucher")
        .order_by("-awarded_at", "-id")
    )


def member_message_list(*, member: Member) -> QuerySet:
    """The emails built for a member, newest first (rewards.services.messages)."""
    from rewards.models import MemberMessage

    return MemberMessage.objects.filter(member=member).order_by("-created_at", "-id")
