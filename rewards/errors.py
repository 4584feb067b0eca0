from django.utils.translation import gettext_lazy as _
from rest_framework import status

from loyalty_engine.errors import Conflict, DomainError, NotFound
from members.errors import MemberExists, MemberNotActive, MemberNotFound

__all__ = ["MemberExists", "MemberNotActive", "MemberNotFound"]


class PurchaseNotFound(NotFound):
    code = "purchase_not_found"
    message = _("This shop has no purchase with this order id.")


class RedemptionNotFound(NotFound):
    code = "redemption_not_found"
    message = _("This shop has no redemption with this id.")


class CurrencyNotAccepted(DomainError):
    code = "currency_not_accepted"
    message = _("The program does not accept this currency.")


class RefundExceedsPurchase(DomainError):
    code = "refund_exceeds_purchase"
    message = _("Refunds in total would exceed the purchase amount.")


class InsufficientPoints(DomainError):
    code = "insufficient_points"
    message = _("The member does not have enough available points.")


class HoldAlreadyResolved(Conflict):
    code = "hold_already_resolved"
    message = _("This hold was already captured, voided or released.")


class HoldExpired(Conflict):
    code = "hold_expired"
    message = _("This hold passed its time limit and its points were released.")


class RedemptionNotCancellable(Conflict):
    code = "redemption_not_cancellable"
    message = _("Only a captured redemption can be cancelled; void a hold instead.")


class IdempotencyKeyRequired(DomainError):
    code = "idempotency_key_required"
    status_code = status.HTTP_400_BAD_REQUEST
    message = _("Send an Idempotency-Key header (1 to 128 printable characters) with a redemption.")
    schema_note = (
        "the Idempotency-Key header is missing, or malformed: empty, over 128 characters, "
        "or with `/` or an invisible character. For a malformed key the message says what "
        "is wrong with it; `fields` names the header either way."
    )


# The reward catalog and vouchers.


class RewardNotFound(NotFound):
    code = "reward_not_found"
    message = _("The catalog has no reward with this id.")


class RewardUnavailable(DomainError):
    """Why a member cannot redeem a reward now. `reward_unavailable_reason` returns one of
    these for the catalog; the redemption raises it."""

    code = "reward_unavailable"
    message = _("This reward cannot be redeemed.")


class RewardNotAvailable(RewardUnavailable):
    code = "reward_not_available"
    message = _("This reward is not offered at the moment.")


class RewardTierRequired(RewardUnavailable):
    code = "reward_tier_required"
    message = _("This reward is for members of other tiers.")


class RewardSegmentRequired(RewardUnavailable):
    code = "reward_segment_required"
    message = _("This reward is offered to selected members only.")


class RewardLimitReached(RewardUnavailable):
    code = "reward_limit_reached"
    message = _("The limit of vouchers of this reward per member is reached.")


class RewardOutOfStock(RewardUnavailable):
    code = "reward_out_of_stock"
    message = _("This reward is out of stock.")


class VoucherNotFound(NotFound):
    code = "voucher_not_found"
    message = _("No voucher has this code.")


class VoucherAlreadyUsed(Conflict):
    code = "voucher_already_used"
    message = _("This voucher was already used.")


class VoucherCancelled(Conflict):
    code = "voucher_cancelled"
    message = _("This voucher was cancelled with its redemption.")


class VoucherExpired(Conflict):
    code = "voucher_expired"
    message = _("This voucher has passed its expiry date.")


class NightlyJobUnknown(NotFound):
    code = "nightly_job_unknown"
    message = _("There is no nightly job with this name.")


class AdjustmentLimitExceeded(DomainError):
    code = "adjustment_limit_exceeded"
    message = _("This adjustment is over the staff user's adjustment limit.")


# Points + cash at checkout (rewards.services.checkout). Each names the largest number of
# points the redemption may spend (`max_points`).


class RedemptionExceedsOrderShare(DomainError):
    code = "redemption_exceeds_order_share"
    message = _("Points may pay only part of this order.")


class RedemptionBelowMinimum(DomainError):
    code = "redemption_below_minimum"
    message = _("A redemption must spend at least the program's minimum of points.")


class RedemptionNotInSteps(DomainError):
    code = "redemption_not_in_steps"
    message = _("Points are redeemed in steps of the program's step size.")


class ActivityTypeUnknown(DomainError):
    code = "activity_type_unknown"
    message = _("The program has no activity type with this key.")


class ReferralCodeInvalid(DomainError):
    code = "referral_code_invalid"
    message = _("No member has this referral code.")


class SelfReferral(DomainError):
    code = "self_referral"
    message = _("A member cannot refer themselves (the same member or the same email).")


class MergeRefused(DomainError):
    code = "merge_refused"
    message = _("These members cannot be merged.")
