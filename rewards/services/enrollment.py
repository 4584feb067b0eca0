"""Enrolling members: the member row, their entry tier and the sign-up bonus, together."""

from datetime import date, datetime

from django.db import IntegrityError
from django.utils import timezone

from loyalty_engine.db import durable_write
from loyalty_engine.events.outbox import event_emit
from members.errors import MemberExists
from members.models import Member, Shop
from members.services import member_create
from rewards.selectors import program_get
from rewards.services.bonuses import signup_bonus_award
from rewards.services.ledger import Actor, balance_save
from rewards.services.milestones import milestones_award
from rewards.services.referrals import referral_attach
from rewards.services.tiers import tier_upgrade_check


def member_enroll(
    *,
    external_id: str,
    email: str = "",
    name: str = "",
    birth_date: date | None = None,
    language: str = "",
    enrolled_at: datetime | None = None,
    shop: Shop | None = None,
    referred_by: str = "",
) -> Member:
    """Enroll a member in the entry tier (if one is configured) and award the sign-up bonus
    of the rule that applies (to the enrolling shop and the entry tier), in one transaction.
    With `referred_by` (another member's referral code), the referral is recorded with it
    (rewards.services.referrals). Raises MemberExists if the external id is taken,
    ReferralCodeInvalid and SelfReferral."""
    try:
        return _member_enroll(
            external_id=external_id,
            email=email,
            name=name,
            birth_date=birth_date,
            language=language,
            enrolled_at=enrolled_at or timezone.now(),
            shop=shop,
            referred_by=referred_by,
        )
    except IntegrityError:
        if Member.objects.filter(external_id=external_id).exists():
            raise MemberExists() from None
        raise


@durable_write
def _member_enroll(**fields) -> Member:
    return member_enroll_write(**fields)


def member_enroll_write(
    *, shop, enrolled_at, program=None, referred_by: str = "", **fields
) -> Member:
    """The body of `member_enroll`, inside the caller's transaction: the bulk members import
    (rewards.services.bulk_import) runs it for many members in one transaction."""
    program = program or program_get()
    member = member_create(enrolled_at=enrolled_at, **fields)
    if referred_by:
        referral_attach(member, code=referred_by, email=fields.get("email", ""), as_of=enrolled_at)
    tier = tier_upgrade_check(member, program=program, as_of=enrolled_at).tier
    if signup_bonus_award(member, program=program, shop=shop, tier=tier, as_of=enrolled_at):
        actor = Actor.for_shop(shop) if shop else Actor.system()
        milestones_award(
            member, program=program, moment=enrolled_at, as_of=enrolled_at, actor=actor
        )
        balance_save(member)
    event_emit(
        type="member.enrolled",
        member=member,
        data={"shop": shop.name if shop else None},
        occurred_at=enrolled_at,
        balance=True,
        tier=True,
    )
    return member
