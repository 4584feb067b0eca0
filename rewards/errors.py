from rest_framework import status

from loyalty_engine.errors import Conflict, DomainError, NotFound
from members.errors import MemberExists, MemberNotActive, MemberNotFound

__all__ = ["MemberExists", "MemberNotActive", "MemberNotFound"]


class PurchaseNotFound(NotFound):
    code = "purchase_not_found"
    message = "This shop has no purchase with this order id."


class RedemptionNotFound(NotFound):
    code = "redemption_not_found"
    message = "This shop has no redemption with this id."


class CurrencyNotAccepted(DomainError):
    code = "currency_not_accepted"
    message = "The program does not accept this currency."


class RefundExceedsPurchase(DomainError):
    code = "refund_exceeds_purchase"
    message = "Refunds in total would exceed the purchase amount."


class InsufficientPoints(DomainError):
    code = "insufficient_points"
    message = "The member does not have enough available points."


class HoldAlreadyResolved(Conflict):
    code = "hold_already_resolved"
    message = "This hold was already captured, voided or released."


class HoldExpired(Conflict):
    code = "hold_expired"
    message = "This hold passed its time limit and its points were released."


class RedemptionNotCancellable(Conflict):
    code = "redemption_not_cancellable"
    message = "Only a captured redemption can be cancelled; void a hold instead."


class IdempotencyKeyRequired(DomainError):
    code = "idempotency_key_required"
    status_code = status.HTTP_400_BAD_REQUEST
    message = "Send an Idempotency-Key header (1 to 128 printable characters) with a redemption."


class NightlyJobUnknown(NotFound):
    code = "nightly_job_unknown"
    message = "There is no nightly job with this name."
