"""The reward catalog: who may redeem a reward, issuing vouchers from its stock, and using
or cancelling a voucher.

Locks, in the one order every write takes them: the member row (`member_lock`), then the
voucher row, then the reward row. Issuing and cancelling run under the member lock, so a
member's vouchers are counted without races; using a voucher touches only its own row.
"""

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from loyalty_engine.db import durable_write
from loyalty_engine.errors import Conflict, DomainError
from loyalty_engine.events.outbox import event_emit
from loyalty_engine.fields import rfc3339
from loyalty_engine.locale_format import date_format
from members.models import Member, Shop
from rewards.errors import (
    RewardLimitReached,
    RewardNotAvailable,
    RewardOutOfStock,
    RewardSegmentRequired,
    RewardTierRequired,
    RewardUnavailable,
    VoucherAlreadyUsed,
    VoucherCancelled,
    VoucherExpired,
    VoucherNotFound,
)
from rewards.models import Redemption, Reward, Voucher
from rewards.segments import segment_limit_allows
from rewards.vouchers import (
    voucher_code_new,
    voucher_code_normalize,
    voucher_is_expired,
    voucher_status_at,
)

Status = Voucher.Status
# 80 random bits make a collision all but impossible; if one happens, draw again.
CODE_ATTEMPTS = 3


def _timestamp(value: datetime | None) -> str | None:
    # The same format the serializers give, so stored responses match fresh reads.
    return rfc3339(value)


def reward_unavailable_reason(
    reward: Reward, *, member_tier_id: int | None, vouchers_held: int, as_of: datetime
) -> RewardUnavailable | None:
    """Why the member cannot redeem `reward` at `as_of`, or None if they can.

    Points are not judged here (the catalog shows them as `affordable`). Checked in this
    order: offered (active, inside its [starts_at, ends_at) window), the member's tier is
    one of the reward's tiers (no tiers: every member), the member is in one of its
    segments (rewards.segments; attached by the caller), the per-member limit (vouchers
    held, cancelled ones not counted) and stock. `reward.tiers` should be prefetched.
    The redemption raises the error it gets; the catalog shows its code and message.
    """
    if not reward.is_active:
        return RewardNotAvailable()
    if reward.starts_at is not None and as_of < reward.starts_at:
        return RewardNotAvailable(gettext("This reward is not offered yet."))
    if reward.ends_at is not None and as_of >= reward.ends_at:
        return RewardNotAvailable(gettext("This reward is no longer offered."))
    tiers = list(reward.tiers.all())
    if tiers and member_tier_id not in {tier.pk for tier in tiers}:
        names = [tier.name for tier in sorted(tiers, key=lambda tier: tier.rank)]
        return RewardTierRequired(
            gettext("This reward is for members of %(tiers)s.")
            % {"tiers": gettext(" or ").join(names)},
            extra={"tiers": names},
        )
    if not segment_limit_allows(reward):
        # Segment names are staff words ("At risk"): members are told no more than this.
        return RewardSegmentRequired()
    if reward.per_member_limit is not None and vouchers_held >= reward.per_member_limit:
        return RewardLimitReached(
            ngettext(
                "This reward is limited to %(limit)s per member, and you already have it.",
                "This reward is limited to %(limit)s per member, and that many were already "
                "redeemed.",
                reward.per_member_limit,
            )
            % {"limit": reward.per_member_limit},
            extra={"limit": reward.per_member_limit},
        )
    if reward.stock is not None and reward.stock <= 0:
        return RewardOutOfStock()
    return None


def voucher_issue(
    member: Member, *, reward: Reward, as_of: datetime, redemption: Redemption | None = None
) -> Voucher:
    """Issue `member` a voucher for `reward`, taking one unit of its stock.

    Call it inside a write service's transaction with the member row locked. One
    conditional UPDATE takes the unit (`stock - 1 WHERE stock > 0`; unlimited stock is NULL
    and stays NULL) and holds the reward row's lock until commit, so concurrent issues
    never oversell. `reward.stock` in memory is not refreshed. The reward's window, tiers
    and per-member limit are not checked here: see `reward_unavailable_reason`.
    Raises RewardOutOfStock.
    """
    taken = Reward.objects.filter(Q(stock__isnull=True) | Q(stock__gt=0), pk=reward.pk).update(
        stock=F("stock") - 1
    )
    if not taken:
        raise RewardOutOfStock()
    expires_at = None
    if reward.voucher_valid_days:
        expires_at = as_of + timedelta(days=reward.voucher_valid_days)
    for attempt in range(1, CODE_ATTEMPTS + 1):
        code = voucher_code_new()
        try:
            with transaction.atomic():
                voucher = Voucher.objects.create(
                    code=code,
                    reward=reward,
                    member=member,
                    redemption=redemption,
                    status=Status.ISSUED,
                    issued_at=as_of,
                    expires_at=expires_at,
                )
        except IntegrityError:
            if attempt == CODE_ATTEMPTS or not Voucher.objects.filter(code=code).exists():
                raise
            continue
        event_emit(
            type="voucher.issued",
            member=member,
            data={
                "code": voucher.code,
                "reward": reward.name,
                "expires_at": rfc3339(expires_at),
                "redemption_id": str(redemption.pk) if redemption else None,
            },
            occurred_at=as_of,
        )
        return voucher
    raise AssertionError("unreachable")


def voucher_cancel(voucher: Voucher, *, as_of: datetime) -> Voucher:
    """Cancel an unused voucher and give its unit back to the reward's stock. Call it under
    the member lock, inside the transaction that returns the points. Cancelling a
    cancelled voucher changes nothing. An expired, unused voucher can be cancelled.
    Raises VoucherAlreadyUsed (the caller's transaction then writes nothing)."""
    # Conditional, so a concurrent use at a till and this cancel cannot both succeed.
    cancelled = Voucher.objects.filter(pk=voucher.pk, status=Status.ISSUED).update(
        status=Status.CANCELLED, cancelled_at=as_of
    )
    if not cancelled:
        voucher.refresh_from_db()
        if voucher.status == Status.USED:
            raise _voucher_refusal(voucher, as_of)
        return voucher
    voucher.status, voucher.cancelled_at = Status.CANCELLED, as_of
    # NULL (unlimited) + 1 stays NULL.
    Reward.objects.filter(pk=voucher.reward_id).update(stock=F("stock") + 1)
    return voucher


@durable_write
def voucher_use(*, shop: Shop, code: str, as_of: datetime | None = None) -> Voucher:
    """Mark a voucher used at `shop`, once: any shop of the program may accept it.

    A conditional UPDATE (issued and not expired → used) decides, so of concurrent uses
    exactly one succeeds. Raises VoucherNotFound, VoucherAlreadyUsed (with when and
    where), VoucherCancelled, VoucherExpired.
    """
    as_of = as_of or timezone.now()
    normalized = voucher_code_normalize(code)
    if normalized is None:
        raise VoucherNotFound()
    used = (
        Voucher.objects.filter(code=normalized, status=Status.ISSUED)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=as_of))
        .update(status=Status.USED, used_at=as_of, used_by=shop)
    )
    voucher = (
        Voucher.objects.select_related("reward", "member", "used_by")
        .filter(code=normalized)
        .first()
    )
    if voucher is None:
        raise VoucherNotFound()
    if not used:
        raise _voucher_refusal(voucher, as_of)
    event_emit(
        type="voucher.used",
        member=voucher.member_id,
        data={"code": voucher.code, "reward": voucher.reward.name, "shop": shop.name},
        occurred_at=as_of,
    )
    return voucher


def _voucher_refusal(voucher: Voucher, as_of: datetime) -> DomainError:
    if voucher.status == Status.USED:
        shop_name = voucher.used_by.name if voucher.used_by else None
        return VoucherAlreadyUsed(
            gettext("This voucher was already used at %(shop)s on %(day)s.")
            % {"shop": shop_name, "day": date_format(voucher.used_at.date())},
            extra={"used_at": _timestamp(voucher.used_at), "used_by": shop_name},
        )
    if voucher.status == Status.CANCELLED:
        return VoucherCancelled(extra={"cancelled_at": _timestamp(voucher.cancelled_at)})
    if voucher_is_expired(voucher, as_of):
        return VoucherExpired(
            gettext("This voucher expired on %(day)s.")
            % {"day": date_format(voucher.expires_at.date())},
            extra={"expires_at": _timestamp(voucher.expires_at)},
        )
    # Issued and valid, yet the update missed it: not expected under row locks.
    return Conflict(gettext("This voucher changed while it was being used; try again."))


def voucher_response(voucher: Voucher, *, as_of: datetime) -> dict:
    """The voucher as a redemption's (stored) response shows it."""
    return {
        "code": voucher.code,
        "status": voucher_status_at(voucher, as_of),
        "reward": {"id": voucher.reward_id, "name": voucher.reward.name},
        "issued_at": _timestamp(voucher.issued_at),
        "expires_at": _timestamp(voucher.expires_at),
    }
