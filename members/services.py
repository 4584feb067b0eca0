import time
from datetime import datetime

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.contenttypes.models import ContentType
from django.core import signing
from django.utils import timezone
from django.utils.translation import gettext

from loyalty_engine.db import durable_write
from loyalty_engine.events.outbox import event_emit
from loyalty_engine.events.services import member_events_scrub
from members.errors import (
    MemberAlreadySuspended,
    MemberErased,
    MemberMerged,
    MemberNotActive,
    MemberNotSuspended,
)
from members.models import Member, Shop, ShopAPIKey
from members.personal_data import PersonalData, member_erase_everywhere

MEMBER_TOKEN_SALT = "members.token"


def member_create(
    *,
    external_id: str,
    email: str = "",
    name: str = "",
    birth_date=None,
    language: str = "",
    enrolled_at: datetime,
) -> Member:
    """Insert a member inside the caller's transaction. Enrollment with its sign-up bonus
    is `rewards.services.enrollment.member_enroll`; an external id already taken raises
    IntegrityError here."""
    return Member.objects.create(
        external_id=external_id,
        email=email,
        name=name,
        birth_date=birth_date,
        language=language,
        enrolled_at=enrolled_at,
    )


@durable_write
def member_language_set(*, member: Member, language: str) -> Member:
    """The language the member reads (one of settings.LANGUAGES; empty: the program's
    default). Set by the shop, kept in the member's audit trail."""
    if language and language not in dict(settings.LANGUAGES):
        raise ValueError(f"Unsupported language: {language!r}")
    member = Member.objects.select_for_update().get(pk=member.pk)
    member.language = language
    member.save(update_fields=["language"])
    return member


def member_token_issue(*, member: Member, now: datetime | None = None) -> tuple[str, datetime]:
    """A signed token naming the member, for the shop to hand to its front end.
    It is valid for MEMBER_TOKEN_TTL_SECONDS. Raises MemberNotActive."""
    if member.status != Member.Status.ACTIVE:
        raise MemberNotActive(gettext("Tokens are issued to active members only."))
    now = now or timezone.now()
    token = signing.dumps({"m": member.pk}, salt=MEMBER_TOKEN_SALT, compress=True)
    return token, now + timezone.timedelta(seconds=settings.MEMBER_TOKEN_TTL_SECONDS)


# Servers that share the signing key may disagree on the time by this much.
TOKEN_CLOCK_SKEW_SECONDS = 5


def member_token_verify(token: str) -> int | None:
    """The member id a valid, unexpired token names, or None. A token dated in the
    future (beyond a few seconds of clock skew) is refused: no server of ours minted it."""
    signer = signing.TimestampSigner(salt=MEMBER_TOKEN_SALT)
    try:
        payload = signer.unsign_object(token, max_age=settings.MEMBER_TOKEN_TTL_SECONDS)
        issued = signing.b62_decode(token.rsplit(signer.sep, 2)[-2])
    except (signing.BadSignature, ValueError):
        return None
    if issued > time.time() + TOKEN_CLOCK_SKEW_SECONDS:
        return None
    member_id = payload.get("m") if isinstance(payload, dict) else None
    return member_id if isinstance(member_id, int) else None


@durable_write
def shop_api_key_create(*, shop_name: str, key_name: str = "default") -> tuple[Shop, str]:
    """Create the shop if needed and a new API key for it. The key is returned once;
    only its hash is stored."""
    shop, _ = Shop.objects.get_or_create(name=shop_name)
    _, key = ShopAPIKey.objects.create_key(name=key_name, shop=shop)
    return shop, key


# Member status, changed by staff. What each status allows:
# - active: everything.
# - suspended: points stand still for the shop and the member: no earning, no redeeming, no
#   member tokens (MemberNotActive). Refunds still take back points of earlier purchases,
#   points still expire and open holds still release, so the ledger stays true; staff may
#   still adjust points, with a reason. Reactivating restores everything.
# - erased: personal data is gone for good (see `member_erase`); like suspended, and staff
#   adjustments are refused too. An erased member cannot be reactivated.


def _member_lock(member: Member) -> Member:
    return Member.objects.select_for_update().get(pk=member.pk)


def _status_save(
    member: Member, *, fields: list[str], reason: str, staff_user: AbstractBaseUser | None
) -> None:
    # The audit trail (django-simple-history) records who changed the member and why.
    member._change_reason = reason
    member._history_user = staff_user
    member.save(update_fields=fields)


def _reason_required(reason: str) -> str:
    if not reason.strip():
        raise ValueError("Give a reason: it is kept in the member's history.")
    return reason.strip()


def _refuse_merged(member: Member) -> None:
    # A merged member stays merged (rewards.services.merges): suspended, then reactivated,
    # it would be active again under its own external id, and could be merged elsewhere.
    if member.status == Member.Status.MERGED:
        raise MemberMerged(gettext("A merge cannot be undone."))


@durable_write
def member_suspend(
    *, member: Member, reason: str, staff_user: AbstractBaseUser | None = None
) -> Member:
    """Suspend an active member: their points stand still until reactivated. Raises
    ValueError for an empty reason, MemberAlreadySuspended, MemberErased, MemberMerged."""
    reason = _reason_required(reason)
    member = _member_lock(member)
    if member.status == Member.Status.ERASED:
        raise MemberErased()
    _refuse_merged(member)
    if member.status == Member.Status.SUSPENDED:
        raise MemberAlreadySuspended()
    member.status = Member.Status.SUSPENDED
    _status_save(member, fields=["status"], reason=f"Suspended: {reason}", staff_user=staff_user)
    event_emit(type="member.suspended", member=member, data={"reason": reason})
    return member


@durable_write
def member_reactivate(
    *, member: Member, reason: str, staff_user: AbstractBaseUser | None = None
) -> Member:
    """Make a suspended member active again. Raises ValueError for an empty reason,
    MemberNotSuspended, MemberErased, MemberMerged."""
    reason = _reason_required(reason)
    member = _member_lock(member)
    if member.status == Member.Status.ERASED:
        raise MemberErased()
    _refuse_merged(member)
    if member.status != Member.Status.SUSPENDED:
        raise MemberNotSuspended()
    member.status = Member.Status.ACTIVE
    _status_save(member, fields=["status"], reason=f"Reactivated: {reason}", staff_user=staff_user)
    event_emit(type="member.reactivated", member=member, data={"reason": reason})
    return member


def erased_external_id(member_id: int) -> str:
    """The pseudonym that replaces an erased member's external id: stable (the same member
    always gets the same one), unique, and derived from nothing personal."""
    return f"erased-{member_id}"


PERSONAL_FIELDS = ["external_id", "email", "name", "birth_date"]


@durable_write
def member_erase(
    *, member: Member, reason: str, staff_user: AbstractBaseUser | None = None
) -> Member:
    """Erase a member's personal data (right to erasure): the external id becomes a stable
    pseudonym, email, name and birth date are cleared, in the member row, in every earlier
    version of it in the audit trail, in the admin's action log and wherever another app
    keeps a copy (its registered eraser, `members.personal_data`). The ledger, lots,
    purchases, refunds, redemptions, vouchers and tiers stay as they are, so balances and
    KPIs are unchanged. The member can never earn, redeem or be reactivated again. Erasing
    an erased member changes nothing. The members merged into this one (the same person,
    enrolled twice) are erased with it. Raises ValueError for an empty reason."""
    reason = _reason_required(reason)
    return _member_erase(_member_lock(member), reason=reason, staff_user=staff_user)


def _member_erase(member: Member, *, reason: str, staff_user) -> Member:
    if member.status == Member.Status.ERASED:
        return member
    personal = PersonalData(
        external_id=member.external_id,
        email=member.email,
        name=member.name,
        pseudonym=erased_external_id(member.pk),
    )
    # Every app's copies first (stored responses, feedback, CSV uploads), while the
    # values to look for are still known.
    member_erase_everywhere(member, personal)
    erased = {
        "external_id": erased_external_id(member.pk),
        "email": "",
        "name": "",
        "birth_date": None,
    }
    # The earlier versions first: once erased, no copy of the personal data is left,
    # not even the external id the admin's action log named the member by.
    Member.history.filter(id=member.pk).update(**erased)
    # Staff's reasons may name the member too ("Merged into …: Ann enrolled twice").
    for version in Member.history.filter(id=member.pk).exclude(history_change_reason=None):
        reason_text = version.history_change_reason
        if personal.found_in(reason_text):
            Member.history.filter(pk=version.pk).update(
                history_change_reason=personal.scrub(reason_text)
            )
    LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Member), object_id=str(member.pk)
    ).update(object_repr=erased["external_id"])
    for field, value in erased.items():
        setattr(member, field, value)
    member.status = Member.Status.ERASED
    _status_save(
        member,
        fields=[*PERSONAL_FIELDS, "status"],
        reason=f"Erased: {reason}",
        staff_user=staff_user,
    )
    for merged in Member.objects.select_for_update().filter(merged_into=member).order_by("pk"):
        _member_erase(
            merged,
            reason=f"erased with member #{member.pk}, which it was merged into",
            staff_user=staff_user,
        )
    # No personal data, not even the staff's reason (it may name the person). Earlier
    # events name the member by the pseudonym from now on: the feed and webhooks read the
    # external id from the member row.
    event_emit(type="member.erased", member=member, data={})
    return member


def member_events_erase(member: Member, personal: PersonalData) -> None:
    """The members app's eraser (members.personal_data): the member's events and what
    webhook receivers answered to them (`loyalty_engine.events.services`)."""
    member_events_scrub(member_id=member.pk, scrub=personal.scrub)


# Consent to email: transactional (about the member's own account) and marketing.
TRANSACTIONAL, MARKETING = "transactional", "marketing"
CONSENT_FIELD = {TRANSACTIONAL: "consent_transactional", MARKETING: "consent_marketing"}
UNSUBSCRIBE_SALT = "members.unsubscribe"


def unsubscribe_token(*, member_id: int, category: str) -> str:
    return signing.dumps({"m": member_id, "c": category}, salt=UNSUBSCRIBE_SALT, compress=True)


def unsubscribe_token_read(token: str) -> tuple[int, str] | None:
    """(member id, category) of a valid token, or None. Tokens don't expire: an old
    email's link must still work."""
    try:
        payload = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(payload, dict):
        return None
    member_id, category = payload.get("m"), payload.get("c")
    if not isinstance(member_id, int) or category not in CONSENT_FIELD:
        return None
    return member_id, category


@durable_write
def member_unsubscribe(*, token: str) -> tuple[Member, str] | None:
    """Turn off the consent the token names. Returns (member, category), or None for a
    token that is not valid. Idempotent."""
    found = unsubscribe_token_read(token)
    if found is None:
        return None
    member_id, category = found
    member = Member.objects.select_for_update().filter(pk=member_id).first()
    if member is None:
        return None
    if getattr(member, CONSENT_FIELD[category]):
        setattr(member, CONSENT_FIELD[category], False)
        member._change_reason = f"Unsubscribed from {category} email"
        member.save(update_fields=[CONSENT_FIELD[category]])
    return member, category


@durable_write
def member_consent_set(
    *, member: Member, transactional: bool | None = None, marketing: bool | None = None
) -> Member:
    member = Member.objects.select_for_update().get(pk=member.pk)
    fields = []
    if transactional is not None:
        member.consent_transactional = transactional
        fields.append("consent_transactional")
    if marketing is not None:
        member.consent_marketing = marketing
        fields.append("consent_marketing")
    if fields:
        member._change_reason = "Consent set through the API"
        member.save(update_fields=fields)
    return member


# A member merged into another keeps its external id, which then names the member it was
# merged into (rewards.services.merges). Merges may chain (A into B, later B into C).
MAX_MERGE_HOPS = 20


def member_follow_merges(member: Member, *, lock: bool = False) -> Member:
    """The member that `member` was merged into (following chains), or `member` itself.
    With `lock`, each member on the way is locked, as the write services lock members."""
    manager = Member.objects.select_for_update() if lock else Member.objects
    for _ in range(MAX_MERGE_HOPS):
        if member.merged_into_id is None:
            return member
        member = manager.get(pk=member.merged_into_id)
    return member
