"""The bulk path of the CSV import: a chunk of rows in one transaction, written in bulk.

Imported history must give what `purchase_record` and `member_enroll` would have given row
by row: the same points (computed by the same function, `purchase_points_calculate`),
lots and their expiry, tiers, milestones and stored responses. A chunk:

1. locks its members in id order (`select_for_update`), the lock every write of points
   takes, so no API call changes them meanwhile;
2. loads once what the earn calculation needs: the program, the tiers, the purchase rules,
   the open milestones, the members' tier states, qualifying values and purchase totals,
   and which of the chunk's orders exist already;
3. plans each member's rows in file order in memory, as the services would compute them:
   tier upgrades and milestones (their bonus entries and lots) included;
4. writes the plans with one bulk insert per table (COPY on PostgreSQL) and one balance
   update for all.

A member whose rows the plan cannot prove equal to the row-by-row result goes through the
services' own write (`purchase_write`, `member_enroll_write`) in the same transaction, one
row after another: a capped rule giving an item (its usage is in past awards), points owed
from refunds, a tier grace period running, a milestone with a voucher (stock), or a yearly
or monthly purchases or spend milestone the member might reach (bounded from above by
their all-time figure). Such members are few in a history import, and their rows still
share the chunk's one commit.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, connection
from django.db.models import Count, DecimalField, F, JSONField, Q, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext
from psycopg.types.json import Jsonb
from simple_history.utils import bulk_create_with_history

from loyalty_engine.db import durable_write
from loyalty_engine.events.outbox import balance_of, events_bulk_emit
from members.models import Member, Shop
from rewards import ledger_words
from rewards.errors import CurrencyNotAccepted, MemberNotActive
from rewards.models import (
    EarnAward,
    EarnRule,
    ExpiryPolicy,
    LedgerEntry,
    LotMovement,
    MemberTier,
    Milestone,
    MilestoneAward,
    PointLot,
    Program,
    Purchase,
    PurchaseLine,
    Tier,
    TierBasis,
    TierChange,
)
from rewards.segments import segment_limit_allows, segments_flag
from rewards.selectors import program_get
from rewards.services.bonuses import (
    BonusWords,
    bonus_rule_pick,
    milestone_bonus_words,
    signup_bonus_words,
)
from rewards.services.earning import (
    BasketLine,
    EarnCalculation,
    purchase_points_calculate,
    rule_applies_to,
)
from rewards.services.enrollment import member_enroll_write
from rewards.services.import_rows import MemberRow, PurchaseRow, RowError
from rewards.services.ledger import _expiry_words, lot_expires_at
from rewards.services.milestones import period_bounds
from rewards.services.purchases import (
    LineInput,
    earn_awards_build,
    excluded_response,
    purchase_write,
)
from rewards.services.tiers import (
    _describe,
    _rank,
    qualifying_spend,
    tier_for_value,
    tier_window_start,
    tiers_list,
)

Kind = LedgerEntry.Kind
RuleKind = EarnRule.Kind
MilestoneKind = Milestone.Kind
MONEY = DecimalField(max_digits=18, decimal_places=4)


@dataclass(frozen=True)
class BulkImportResult:
    created: int
    unchanged: int
    # Rows naming a member who does not exist (enrolled by nobody, or erased since the
    # file was checked): reported, not imported.
    missing: list[RowError] = field(default_factory=list)
    # Members whose rows were planned in memory and written in bulk, and those whose rows
    # went through the per-row services (see the module docstring).
    members_planned: int = 0
    members_per_row: int = 0


def _with_one_retry(write):
    """A concurrent twin (the API recording the same order, or enrolling the same external
    id, after the chunk read what exists) makes the chunk's insert fail and rolls it back
    whole; the second attempt finds the twin and skips it."""
    try:
        return write()
    except IntegrityError:
        return write()


# --- purchases --------------------------------------------------------------------------


def purchase_row_lines(row: PurchaseRow) -> list[LineInput]:
    """One line for the whole amount, so category and SKU rules apply as to the API's."""
    if not (row.category or row.sku):
        return []
    return [
        LineInput(sku=row.sku, category=row.category, quantity=Decimal(1), unit_price=row.amount)
    ]


def purchases_bulk_record(
    *,
    rows: list[PurchaseRow],
    shops: dict[str, Shop],
    request_hashes: list[str],
    as_of: datetime | None = None,
) -> BulkImportResult:
    """Record a chunk of historical purchases (in file order) in one transaction, with what
    `purchase_record` row by row would have written. Rows whose (shop, order id) exists
    are skipped; rows of an unknown member are reported in `missing`. Keeps every ledger
    invariant (verify_ledger). Raises CurrencyNotAccepted and MemberNotActive as
    `purchase_record` does, for the whole chunk."""
    as_of = as_of or timezone.now()
    return _with_one_retry(
        lambda: _purchases_bulk_record(
            rows=rows, shops=shops, request_hashes=request_hashes, as_of=as_of
        )
    )


@dataclass
class _MemberState:
    """One member's running state while their rows are planned."""

    member: Member
    tier_state: MemberTier | None
    tier_state_is_new: bool
    qualifying: Decimal
    purchase_count: int
    live_count: int  # purchases not fully refunded, as milestone progress counts them
    spend: Decimal
    reached: set[tuple[int, str]]
    tier_changed: bool = False


@dataclass
class _Planned:
    row: PurchaseRow
    request_hash: str
    shop: Shop
    calculation: EarnCalculation
    available_at: datetime
    expires_at: datetime | None
    lot_is_pending: bool
    already_expired: bool
    tier_change: TierChange | None
    milestones: list[tuple[Milestone, str]]
    response: dict


def _is_capped(rule: EarnRule) -> bool:
    return bool(rule.cap_per_day or rule.cap_per_month or rule.cap_total)


class _NotProvable(Exception):
    """This member's rows go through the per-row services."""


@durable_write
def _purchases_bulk_record(*, rows, shops, request_hashes, as_of) -> BulkImportResult:
    program = program_get()
    for row in rows:
        if row.currency != program.currency:
            raise CurrencyNotAccepted(
                gettext("The program accepts %(currency)s only.") % {"currency": program.currency},
                extra={"currency": program.currency},
            )
    members = {
        member.external_id: member
        for member in Member.objects.select_for_update()
        .filter(external_id__in={row.member_external_id for row in rows})
        .order_by("pk")
    }
    existing = _existing_keys(rows, shops)
    missing: list[RowError] = []
    by_member: dict[int, list[tuple[PurchaseRow, str]]] = defaultdict(list)
    unchanged = 0
    for row, request_hash in zip(rows, request_hashes, strict=True):
        key = (shops[row.shop].pk, row.order_id)
        member = members.get(row.member_external_id)
        if key in existing:
            unchanged += 1
            continue
        if member is None:
            missing.append(
                RowError(
                    row.line,
                    "member_external_id",
                    f"No member has the external id {row.member_external_id!r}: row not imported.",
                )
            )
            continue
        existing.add(key)  # a second row with the same order in one chunk is a repeat
        by_member[member.pk].append((row, request_hash))
    if not by_member:
        return BulkImportResult(created=0, unchanged=unchanged, missing=missing)
    for member in members.values():
        if member.pk in by_member and member.status != Member.Status.ACTIVE:
            raise MemberNotActive()

    context = _PurchaseContext.load(
        program=program, as_of=as_of, member_ids=list(by_member), shops=shops
    )
    plans: dict[int, list[_Planned]] = {}
    per_row: list[int] = []
    by_id = {member.pk: member for member in members.values()}
    for member_id in sorted(by_member):
        try:
            plans[member_id] = context.member_plan(by_id[member_id], by_member[member_id])
        except _NotProvable:
            per_row.append(member_id)
    _plans_write(plans, context=context, members=by_id, as_of=as_of)
    for member_id in per_row:
        for row, request_hash in by_member[member_id]:
            purchase_write(
                shop=shops[row.shop],
                member_external_id=row.member_external_id,
                order_id=row.order_id,
                amount=row.amount,
                currency=row.currency,
                occurred_at=row.occurred_at,
                lines=purchase_row_lines(row),
                request_hash=request_hash,
                as_of=as_of,
            )
    created = sum(len(member_rows) for member_rows in by_member.values())
    return BulkImportResult(
        created=created,
        unchanged=unchanged,
        missing=missing,
        members_planned=len(plans),
        members_per_row=len(per_row),
    )


def _existing_keys(rows: list[PurchaseRow], shops: dict[str, Shop]) -> set[tuple[int, str]]:
    by_shop: dict[int, set[str]] = defaultdict(set)
    for row in rows:
        by_shop[shops[row.shop].pk].add(row.order_id)
    keys: set[tuple[int, str]] = set()
    for shop_id, order_ids in by_shop.items():
        keys.update(
            Purchase.objects.filter(shop_id=shop_id, order_id__in=order_ids).values_list(
                "shop_id", "order_id"
            )
        )
    return keys


@dataclass
class _PurchaseContext:
    program: Program
    as_of: datetime
    tiers: list[Tier]
    rules: list[EarnRule]
    milestones: list[Milestone]
    tier_states: dict[int, MemberTier]
    qualifying: dict[int, Decimal]
    totals: dict[int, tuple[int, int, Decimal]]
    milestones_reached: dict[int, set[tuple[int, str]]]
    window_start: datetime
    shops: dict[str, Shop]
    planned_states: dict[int, _MemberState] = field(default_factory=dict)
    rules_by_shop_and_tier: dict[tuple, list[EarnRule]] = field(default_factory=dict)

    @classmethod
    def load(cls, *, program: Program, as_of: datetime, member_ids: list[int], shops):
        tiers = tiers_list()
        rules = list(
            # Flagged but not attached: a rule limited to segments (today's memberships)
            # does not apply to imported history (rewards.segments). As
            # earning.rules_for_purchase, a rule whose budget is spent gives nothing.
            segments_flag(
                EarnRule.objects.filter(is_active=True, kind__in=EarnRule.PURCHASE_KINDS)
                .filter(Q(budget_points__isnull=True) | Q(budget_used__lt=F("budget_points")))
                .prefetch_related("shops", "tiers")
            )
        )
        # Milestones limited to segments (today's memberships) don't apply to imported
        # history: flagged, never attached (rewards.segments).
        milestones = [
            m
            for m in segments_flag(
                Milestone.objects.filter(is_active=True).select_related("reward")
            )
            if segment_limit_allows(m)
        ]
        window_start = tier_window_start(program=program, as_of=as_of)
        tier_states, qualifying = {}, {}
        if tiers:
            tier_states = {
                state.member_id: state
                for state in MemberTier.objects.filter(member_id__in=member_ids).select_related(
                    "tier", "floor"
                )
            }
            value = (
                qualifying_spend()
                if program.tier_basis == TierBasis.SPEND
                else F("points_earned") - F("points_reversed")
            )
            qualifying = {
                row["member_id"]: Decimal(row["total"])
                for row in Purchase.objects.filter(
                    member_id__in=member_ids,
                    occurred_at__gt=window_start,
                    occurred_at__lte=as_of,
                )
                .values("member_id")
                .annotate(total=Coalesce(Sum(value), Value(0), output_field=MONEY))
                .order_by()
            }
        # Purchase totals: whether a member has bought before (first-purchase bonus) and
        # the upper bounds of their milestone progress.
        totals = {
            row["member_id"]: (row["count"], row["live"], Decimal(row["spend"]))
            for row in Purchase.objects.filter(member_id__in=member_ids)
            .values("member_id")
            .annotate(
                count=Count("pk"),
                live=Count("pk", filter=Q(refunded_amount__lt=F("amount"))),
                spend=Coalesce(
                    Sum(F("amount") - F("refunded_amount")), Value(0), output_field=MONEY
                ),
            )
            .order_by()
        }
        milestones_reached = defaultdict(set)
        if milestones:
            for member_id, milestone_id, period_key in MilestoneAward.objects.filter(
                member_id__in=member_ids
            ).values_list("member_id", "milestone_id", "period_key"):
                milestones_reached[member_id].add((milestone_id, period_key))
        return cls(
            program=program,
            milestones_reached=milestones_reached,
            as_of=as_of,
            tiers=tiers,
            rules=rules,
            milestones=milestones,
            tier_states=tier_states,
            qualifying=qualifying,
            totals=totals,
            window_start=window_start,
            shops=shops,
        )

    def member_plan(self, member: Member, rows: list[tuple[PurchaseRow, str]]) -> list[_Planned]:
        """What `purchase_write` would do for each row, in order, computed in memory.
        Raises _NotProvable where the plan could differ from it."""
        tier_state = self.tier_states.get(member.pk)
        if member.points_owed or (tier_state is not None and tier_state.below_since):
            raise _NotProvable
        count, live_count, spend = self.totals.get(member.pk, (0, 0, Decimal(0)))
        state = _MemberState(
            member=member,
            tier_state=tier_state,
            tier_state_is_new=tier_state is None,
            qualifying=self.qualifying.get(member.pk, Decimal(0)),
            purchase_count=count,
            live_count=live_count,
            spend=spend,
            reached=set(self.milestones_reached.get(member.pk, ())),
        )
        if self.tiers and tier_state is None:
            state.tier_state = MemberTier(
                member=member, tier=tier_for_value(self.tiers, Decimal(0))
            )
        planned = [self._purchase_plan(state, row, request_hash) for row, request_hash in rows]
        self.planned_states[member.pk] = state
        return planned

    def _purchase_plan(self, state: _MemberState, row: PurchaseRow, request_hash: str):
        program, as_of, member = self.program, self.as_of, state.member
        tier = state.tier_state.tier if state.tier_state else None
        rules = [rule for rule in self._rules_for(row, tier) if rule.is_open_at(row.occurred_at)]
        needs_first = any(rule.kind == RuleKind.FIRST_PURCHASE_BONUS for rule in rules)
        lines = purchase_row_lines(row)
        calculation = purchase_points_calculate(
            program=program,
            amount=row.amount,
            lines=[
                BasketLine(
                    sku=line.sku, category=line.category, amount=line.quantity * line.unit_price
                )
                for line in lines
            ],
            rules=rules,
            tier=tier,
            is_first_purchase=needs_first and state.purchase_count == 0,
        )
        if any(item.rule and _is_capped(item.rule) for item in calculation.items):
            # A capped rule gives an item: how much of its cap is left is in the member's
            # past awards (cap_usage_get). A capped rule that gives nothing is capped at nothing.
            raise _NotProvable
        if calculation.not_earning_amount or any(
            item.rule and item.rule.budget_points is not None and item.points
            for item in calculation.items
        ):
            # Excluded lines count for no tier, and a budget is taken with a conditional
            # update: purchase_write does both.
            raise _NotProvable
        if program.expiry_policy == ExpiryPolicy.INACTIVITY:
            # Each purchase moves the member's other lots' expiry (expiry_inactivity_extend).
            raise _NotProvable
        points = calculation.points
        # As purchases._earn_plan: pending for `pending_days`, and points already past
        # their expiry are earned and expired at once.
        available_at = row.occurred_at + timedelta(days=program.pending_days)
        expires_at = lot_expires_at(program=program, earned_at=row.occurred_at)
        already_expired = expires_at is not None and expires_at <= as_of
        is_pending = available_at > as_of and not already_expired
        lot_is_pending = available_at > as_of
        if points:
            member.lifetime_earned += points
            if not already_expired:
                if lot_is_pending:
                    member.points_pending += points
                else:
                    member.points_available += points
        state.purchase_count += 1
        state.live_count += 1
        state.spend += row.amount
        tier_change = self._tier_upgrade(state, row, points)
        milestones = self._milestones_award(state, row)
        tier = state.tier_state.tier if state.tier_state else None
        response = {
            "order_id": row.order_id,
            "points_earned": points,
            "points_pending": points if is_pending else 0,
            "items": [item.as_dict() for item in calculation.items],
            "balance": member.points_available,
            "tier": tier.name if tier else None,
            "tier_changed": tier_change is not None,
            "milestones_reached": [milestone.name for milestone, _ in milestones],
            # Lines a rule left out (what the program excludes goes through purchase_write).
            **excluded_response(calculation, currency=row.currency),
        }
        return _Planned(
            row=row,
            request_hash=request_hash,
            shop=self._shop(row),
            calculation=calculation,
            available_at=available_at,
            expires_at=expires_at,
            lot_is_pending=lot_is_pending,
            already_expired=already_expired,
            tier_change=tier_change,
            milestones=milestones,
            response=response,
        )

    def _rules_for(self, row: PurchaseRow, tier: Tier | None) -> list[EarnRule]:
        """The rules for this shop and tier (as earning.rules_for_purchase, its window
        aside), worked out once per shop and tier in a chunk."""
        shop = self._shop(row)
        key = (shop.pk, tier.pk if tier else None)
        if key not in self.rules_by_shop_and_tier:
            self.rules_by_shop_and_tier[key] = [
                rule for rule in self.rules if rule_applies_to(rule, shop=shop, tier=tier)
            ]
        return self.rules_by_shop_and_tier[key]

    def _shop(self, row: PurchaseRow) -> Shop:
        return self.shops[row.shop]

    def _tier_upgrade(self, state: _MemberState, row: PurchaseRow, points: int):
        """As tiers.tier_upgrade_check, on the running qualifying value."""
        if not self.tiers:
            return None
        if self.window_start < row.occurred_at <= self.as_of:
            state.qualifying += (
                row.amount if self.program.tier_basis == TierBasis.SPEND else Decimal(points)
            )
        qualified = tier_for_value(self.tiers, state.qualifying)
        tier_state = state.tier_state
        if _rank(qualified) <= _rank(tier_state.tier):
            return None
        window = f"in the last {self.program.tier_window_months} months"
        change = TierChange(
            member_id=state.member.pk,
            from_tier=tier_state.tier,
            to_tier=qualified,
            reason=TierChange.Reason.QUALIFIED,
            detail=f"Reached {qualified.name} with "
            f"{_describe(self.program, state.qualifying)} {window}.",
            qualifying_value=state.qualifying,
            changed_at=self.as_of,
        )
        tier_state.tier = qualified
        tier_state.changed_at = self.as_of
        state.tier_changed = True
        return change

    def _milestones_award(self, state: _MemberState, row: PurchaseRow):
        """As milestones.milestones_award after this purchase: the milestones reached, with
        their period keys; their bonuses are added to the balance. Progress is known
        exactly for lifetime points and for purchases and spend counted over all time;
        toward a yearly or monthly purchases or spend milestone it is bounded by the
        all-time figure, and a member who might reach one raises _NotProvable."""
        member, awarded = state.member, []
        milestones = [m for m in self.milestones if m.is_open_at(row.occurred_at)]
        for _ in range(len(milestones)):
            reached_now = []
            for milestone in milestones:
                key = period_bounds(milestone.period, row.occurred_at, self.program)[0]
                if (milestone.pk, key) in state.reached:
                    continue
                if milestone.kind == MilestoneKind.LIFETIME_POINTS:
                    value = Decimal(member.lifetime_earned)
                elif milestone.kind == MilestoneKind.PURCHASE_COUNT:
                    value = Decimal(state.live_count)
                else:
                    value = state.spend
                if value < milestone.target:
                    continue
                exact = milestone.kind == MilestoneKind.LIFETIME_POINTS or (
                    milestone.period == Milestone.Period.EVER
                )
                if not exact or milestone.reward_id:
                    raise _NotProvable  # a period's own totals, or a voucher from stock
                reached_now.append((milestone, key))
            if not reached_now:
                break
            for milestone, key in reached_now:
                state.reached.add((milestone.pk, key))
                if milestone.bonus_points:
                    member.points_available += milestone.bonus_points
                    member.lifetime_earned += milestone.bonus_points
                awarded.append((milestone, key))
        return awarded


def _plans_write(plans: dict[int, list[_Planned]], *, context, members, as_of) -> None:
    """Write the planned purchases: one bulk insert per table, in the order the per-row
    path would have written them, and one balance update for all the members."""
    if not plans:
        return
    program = context.program
    purchases, lines, entries, lots, awards, movements = [], [], [], [], [], []
    expiring = []
    tier_changes, new_states, changed_states, milestone_awards = [], [], [], []
    for member_id, planned in plans.items():
        member = members[member_id]
        for plan in planned:
            row, points = plan.row, plan.calculation.points
            purchase = Purchase(
                shop=plan.shop,
                member=member,
                order_id=row.order_id,
                amount=row.amount,
                currency=row.currency,
                occurred_at=row.occurred_at,
                created_at=as_of,
                points_earned=points,
                request_hash=plan.request_hash,
                response=plan.response,
            )
            purchases.append(purchase)
            lines += [
                PurchaseLine(
                    purchase=purchase,
                    sku=line.sku,
                    category=line.category,
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                )
                for line in purchase_row_lines(row)
            ]
            if plan.tier_change is not None:
                tier_changes.append(plan.tier_change)
            if points:
                entry = LedgerEntry(
                    member=member,
                    kind=Kind.EARN,
                    points=points,
                    **ledger_words.earned(
                        points=points,
                        order_id=row.order_id,
                        amount=row.amount,
                        currency=row.currency,
                    ).fields(),
                    reference=f"order:{row.order_id}",
                    purchase=purchase,
                    actor_kind=LedgerEntry.Actor.SHOP,
                    actor_shop=plan.shop,
                    effective_at=row.occurred_at,
                    created_at=as_of,
                )
                entries.append(entry)
                lot = PointLot(
                    member=member,
                    entry=entry,
                    purchase=purchase,
                    points=points,
                    remaining=0 if plan.already_expired else points,
                    earned_at=row.occurred_at,
                    available_at=plan.available_at,
                    is_pending=plan.lot_is_pending,
                    expires_at=plan.expires_at,
                )
                lots.append(lot)
                local_date = row.occurred_at.astimezone(program.tz).date()
                awards += earn_awards_build(
                    entry=entry,
                    purchase=purchase,
                    calculation=plan.calculation,
                    awarded_at=as_of,
                    local_date=local_date,
                )
                if plan.already_expired:
                    expiry = LedgerEntry(
                        member=member,
                        kind=Kind.EXPIRE,
                        points=-points,
                        **_expiry_words([lot], points).fields(),
                        reference="expiry",
                        actor_kind=LedgerEntry.Actor.SHOP,
                        actor_shop=plan.shop,
                        effective_at=as_of,
                        created_at=as_of,
                    )
                    entries.append(expiry)
                    expiring.append((expiry, lot, points))
            for milestone, key in plan.milestones:
                # As milestones._award and bonuses.bonus_award, at the import's time.
                bonus_entry = None
                if milestone.bonus_points:
                    bonus_entry, lot, award = _bonus_rows(
                        member,
                        milestone_bonus_words(milestone),
                        at=as_of,
                        program=program,
                        actor_shop=plan.shop,
                        source=EarnAward.Source.MILESTONE,
                        milestone=milestone,
                    )
                    entries.append(bonus_entry)
                    lots.append(lot)
                    awards.append(award)
                milestone_awards.append(
                    MilestoneAward(
                        member=member,
                        milestone=milestone,
                        period_key=key,
                        awarded_at=as_of,
                        entry=bonus_entry,
                    )
                )
        state = context.planned_states[member_id]
        if state.tier_state is not None:
            if state.tier_state_is_new:
                new_states.append(state.tier_state)
            elif state.tier_changed:
                changed_states.append(state.tier_state)
    _insert(Purchase, purchases, with_ids=True)
    _insert(PurchaseLine, lines)
    _insert(LedgerEntry, entries, with_ids=True)
    _insert(PointLot, lots, with_ids=True)
    _insert(EarnAward, awards)
    movements = [
        LotMovement(entry=entry, lot=lot, points=-points) for entry, lot, points in expiring
    ]
    _insert(LotMovement, movements)
    _insert(TierChange, tier_changes)
    _insert(MilestoneAward, milestone_awards)
    _insert(MemberTier, new_states)
    MemberTier.objects.bulk_update(changed_states, ["tier", "changed_at"])
    _balances_save([members[member_id] for member_id in plans])
    _import_events_write(
        entries=entries, tier_changes=tier_changes, milestone_awards=milestone_awards
    )


# The events of an import, as the per-row services emit them, in one insert per chunk.
# They say `imported`: webhooks get them; no email is built from them.
_ENTRY_EVENT_TYPES = {
    Kind.EARN: ("points.earned", "purchase"),
    Kind.BONUS: ("points.earned", "bonus"),
    Kind.EXPIRE: ("points.expired", None),
}


def _import_events_write(*, entries=(), tier_changes=(), milestone_awards=(), enrolled=()):
    events = [
        {
            "type": "member.enrolled",
            "member_id": member.pk,
            "occurred_at": member.enrolled_at,
            "data": {"shop": None, "imported": True, "balance": balance_of(member)},
        }
        for member in enrolled
    ]
    for entry in entries:
        event_type, source = _ENTRY_EVENT_TYPES[entry.kind]
        data = {
            "points": entry.points,
            "reason": ledger_words.event_reason(entry),
            "reference": entry.reference,
        }
        if source:
            data["source"] = source
        if entry.purchase is not None:
            data["order_id"] = entry.purchase.order_id
        data |= {"imported": True, "balance": balance_of(entry.member)}
        events.append(
            {
                "type": event_type,
                "member_id": entry.member.pk,
                "occurred_at": entry.created_at,
                "data": data,
            }
        )
    for change in tier_changes:
        events.append(
            {
                "type": "tier.changed",
                "member_id": change.member_id,
                "occurred_at": change.changed_at,
                "data": {
                    "from_tier": change.from_tier.name if change.from_tier else None,
                    "to_tier": change.to_tier.name if change.to_tier else None,
                    "direction": "up",
                    "reason": change.reason,
                    "detail": change.detail,
                    "imported": True,
                },
            }
        )
    for award in milestone_awards:
        events.append(
            {
                "type": "milestone.reached",
                "member_id": award.member.pk,
                "occurred_at": award.awarded_at,
                "data": {
                    "milestone": award.milestone.name,
                    "period": award.period_key,
                    "bonus_points": award.entry.points if award.entry else 0,
                    "voucher_code": None,
                    "imported": True,
                },
            }
        )
    events_bulk_emit(events)


def _insert(model, objs: list, *, with_ids: bool = False) -> None:
    """bulk_create, or on PostgreSQL a COPY: most of a chunk's time in bulk_create is
    Django preparing each value in Python, which COPY leaves to psycopg. The ids the
    objects need (for the rows that point to them) are taken from the table's sequence
    first, in the objects' order, as bulk_create's RETURNING would give them."""
    if not objs:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objs)
        return
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if with_ids:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [table, len(objs)],
            )
            for obj, (pk,) in zip(objs, sorted(cursor.fetchall()), strict=True):
                obj.pk = pk
        fields = [
            f for f in model._meta.concrete_fields if with_ids or f is not model._meta.auto_field
        ]
        for obj in objs:
            obj._prepare_related_fields_for_save(operation_name="bulk_create")
            obj._state.adding, obj._state.db = False, connection.alias
        columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
        json_fields = {f.attname for f in fields if isinstance(f, JSONField)}
        names = [f.attname for f in fields]
        with cursor.cursor.copy(
            f"COPY {connection.ops.quote_name(table)} ({columns}) FROM STDIN"
        ) as copy:
            for obj in objs:
                copy.write_row(
                    [
                        Jsonb(getattr(obj, name)) if name in json_fields else getattr(obj, name)
                        for name in names
                    ]
                )


def _balances_save(members: list[Member]) -> None:
    """One UPDATE for the chunk's cached balances. The ledger is the record of balance
    changes: no audit-trail rows, as balance_save."""
    fields = ["points_available", "points_pending", "lifetime_earned"]
    if connection.vendor != "postgresql":
        Member.objects.bulk_update(members, fields)
        return
    # bulk_update's CASE WHEN grows with the rows on both sides (Python and the server);
    # arrays joined by id do not.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE members_member AS m SET points_available = v.available, "
            "points_pending = v.pending, lifetime_earned = v.lifetime "
            "FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[]) "
            "AS v(id, available, pending, lifetime) WHERE m.id = v.id",
            [[getattr(m, name) for m in members] for name in ["pk", *fields]],
        )


# --- members ----------------------------------------------------------------------------


def members_bulk_enroll(
    *, rows: list[MemberRow], as_of: datetime | None = None
) -> BulkImportResult:
    """Enroll a chunk of members in one transaction, as `member_enroll` would one by one:
    the entry tier, and the sign-up bonus of the rule that applies at `enrolled_at` (its
    entry, lot and award). External ids already enrolled are skipped. A member whose bonus
    would reach a milestone is enrolled through `member_enroll_write`, in the same
    transaction. `as_of` is the enrollment time of rows without one."""
    as_of = as_of or timezone.now()
    return _with_one_retry(lambda: _members_bulk_enroll(rows=rows, as_of=as_of))


@durable_write
def _members_bulk_enroll(*, rows: list[MemberRow], as_of: datetime) -> BulkImportResult:
    existing = set(
        Member.objects.filter(external_id__in=[row.external_id for row in rows]).values_list(
            "external_id", flat=True
        )
    )
    new_rows = []
    for row in rows:
        if row.external_id not in existing:
            existing.add(row.external_id)  # a repeat within the chunk is skipped too
            new_rows.append(row)
    if not new_rows:
        return BulkImportResult(created=0, unchanged=len(rows))
    program = program_get()
    tiers = tiers_list()
    entry_tier = tier_for_value(tiers, Decimal(0)) if tiers else None
    # A member being enrolled is in no segment yet: rules limited to segments don't apply.
    signup_rules = list(
        segments_flag(
            EarnRule.objects.filter(is_active=True, kind=RuleKind.SIGNUP_BONUS).prefetch_related(
                "shops", "tiers"
            )
        )
    )
    milestones = [
        m
        for m in segments_flag(Milestone.objects.filter(is_active=True))
        if segment_limit_allows(m)
    ]

    bulk: list[tuple[Member, EarnRule | None]] = []
    per_row: list[MemberRow] = []
    for row in new_rows:
        enrolled_at = row.enrolled_at or as_of
        rule = bonus_rule_pick(signup_rules, at=enrolled_at, shop=None, tier=entry_tier)
        bonus = rule.bonus_points if rule else 0
        # A new member's progress is their bonus (lifetime points) and nothing else, so
        # whether a milestone is reached is known exactly.
        if bonus and any(
            m.is_open_at(enrolled_at)
            and (bonus if m.kind == MilestoneKind.LIFETIME_POINTS else 0) >= m.target
            for m in milestones
        ):
            per_row.append(row)
            continue
        member = Member(
            external_id=row.external_id,
            email=row.email,
            name=row.name,
            birth_date=row.birth_date,
            enrolled_at=enrolled_at,
            points_available=bonus,
            lifetime_earned=bonus,
        )
        bulk.append((member, rule))

    # The audit trail records each member's creation, as member_create's save() does.
    bulk_create_with_history([member for member, _ in bulk], Member)
    if tiers:
        _insert(MemberTier, [MemberTier(member=member, tier=entry_tier) for member, _ in bulk])
    bonus_entries = _signup_bonuses_write(
        [(m, r) for m, r in bulk if r is not None], program=program
    )
    _import_events_write(enrolled=[member for member, _ in bulk], entries=bonus_entries or [])
    for row in per_row:
        member_enroll_write(
            external_id=row.external_id,
            email=row.email,
            name=row.name,
            birth_date=row.birth_date,
            enrolled_at=row.enrolled_at or as_of,
            shop=None,
            program=program,
        )
    return BulkImportResult(
        created=len(new_rows),
        unchanged=len(rows) - len(new_rows),
        members_planned=len(bulk),
        members_per_row=len(per_row),
    )


def _bonus_rows(
    member: Member,
    words: BonusWords,
    *,
    at: datetime,
    program: Program,
    actor_shop: Shop | None,
    source: str,
    **award_links,
) -> tuple[LedgerEntry, PointLot, EarnAward]:
    """The entry, lot and award of a bonus, as bonuses.bonus_award writes them: the points
    available at once from `at`, expiring by the program's policy; by the shop if one is
    given, else by the system."""
    points = words.points
    entry = LedgerEntry(
        member=member,
        kind=Kind.BONUS,
        points=points,
        **words.words.fields(),
        reference=words.reference,
        actor_kind=LedgerEntry.Actor.SHOP if actor_shop else LedgerEntry.Actor.SYSTEM,
        actor_shop=actor_shop,
        effective_at=at,
        created_at=at,
    )
    lot = PointLot(
        member=entry.member,
        entry=entry,
        points=points,
        remaining=points,
        earned_at=at,
        available_at=at,
        is_pending=False,
        expires_at=lot_expires_at(program=program, earned_at=at),
    )
    award = EarnAward(
        member=entry.member,
        entry=entry,
        source=source,
        description=words.description,
        points=points,
        awarded_at=at,
        local_date=at.astimezone(program.tz).date(),
        **award_links,
    )
    return entry, lot, award


def _signup_bonuses_write(
    bonused: list[tuple[Member, EarnRule]], *, program: Program
) -> list[LedgerEntry]:
    """As bonuses.signup_bonus_award for new members: one bonus entry, its lot (available
    at once, expiring by the policy) and its award, dated at the enrollment."""
    entries, lots, awards = [], [], []
    for member, rule in bonused:
        entry, lot, award = _bonus_rows(
            member,
            signup_bonus_words(rule),
            at=member.enrolled_at,
            program=program,
            actor_shop=None,
            source=EarnAward.Source.RULE,
            rule=rule,
        )
        entries.append(entry)
        lots.append(lot)
        awards.append(award)
    _insert(LedgerEntry, entries, with_ids=True)
    _insert(PointLot, lots)
    _insert(EarnAward, awards)
    return entries
