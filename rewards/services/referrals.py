"""Referrals: a member enrolls with another member's referral code; once the new member's
first purchase is available (past the returns window) and not fully refunded, both get
their bonus, exactly once.

The bonuses are paid by the nightly `referrals` job (after `release`), or by
`referral_resolve` called for a member at any time: the referral row is decided under the
referred member's row lock, then the referrer's (a referrer always enrolled before the
member they referred, so the two locks are always taken in the same order), and a decided
referral is never decided again.
"""

from collections import Counter
from datetime import datetime, timedelta

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty_engine.db import durable_write
from members.models import Member
from members.referral_codes import referral_code_for, referral_code_member_id
from members.services import member_follow_merges
from rewards import ledger_words
from rewards.errors import ReferralCodeInvalid, SelfReferral
from rewards.models import EarnAward, Program, Purchase, Referral
from rewards.selectors import program_get
from rewards.services.bonuses import BonusWords, bonus_award
from rewards.services.ledger import Actor, balance_save, member_lock


def referral_share_get(*, member: Member, program: Program) -> dict:
    """A member's referral code and the link to share (None while no link is configured)."""
    code = referral_code_for(member.pk)
    link = (
        program.referral_share_url.replace("{code}", code) if program.referral_share_url else None
    )
    return {
        "code": code,
        "share_url": link,
        "referrer_points": program.referral_referrer_points,
        "referred_points": program.referral_referred_points,
        "referrals": Referral.objects.filter(referrer=member).count(),
        "rewarded": Referral.objects.filter(
            referrer=member, status=Referral.Status.REWARDED
        ).count(),
    }


def referral_attach(member: Member, *, code: str, email: str, as_of: datetime) -> Referral:
    """Record, inside the enrollment's transaction, that `member` was referred by the owner
    of `code`. Raises ReferralCodeInvalid (no active member has the code) and SelfReferral
    (the code is the member's own, or its owner has the same email)."""
    referrer_id = referral_code_member_id(code)
    referrer = Member.objects.filter(pk=referrer_id).first() if referrer_id else None
    if referrer is None or referrer.status != Member.Status.ACTIVE:
        raise ReferralCodeInvalid.on_field(
            "referred_by", _("No active member has this referral code.")
        )
    if referrer.pk == member.pk or (
        email and referrer.email and referrer.email.casefold() == email.casefold()
    ):
        raise SelfReferral.on_field("referred_by", _("This is the member's own code or email."))
    return Referral.objects.create(referrer=referrer, referred=member, created_at=as_of)


def _first_purchase(member: Member) -> Purchase | None:
    return Purchase.objects.filter(member=member).order_by("occurred_at", "id").first()


def referral_year_count(*, referrer: Member, program: Program, as_of: datetime) -> int:
    """Referrals the referrer was rewarded for in as_of's calendar year (program's zone)."""
    local = as_of.astimezone(program.tz)
    start = local.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    end = start.replace(year=start.year + 1)
    return Referral.objects.filter(
        referrer=referrer,
        status=Referral.Status.REWARDED,
        resolved_at__gte=start,
        resolved_at__lt=end,
    ).count()


def referral_resolve(*, member_id: int, as_of: datetime | None = None) -> Referral | None:
    """Decide the pending referral of a referred member, if its time has come: void if the
    first purchase is fully refunded, capped if the referrer reached the yearly cap, else
    rewarded with both bonuses; self_referral if the referrer has since been merged into
    the referred member. Nothing happens before the first purchase is available. (A
    referred member merged into another one has its referral decided by the merge.)
    Safe to call any number of times: a decided referral stays as it is."""
    return _referral_resolve(member_id=member_id, as_of=as_of or timezone.now())


@durable_write
def _referral_resolve(*, member_id: int, as_of: datetime) -> Referral | None:
    referred = member_lock(member_id=member_id)
    referral = Referral.objects.filter(referred=referred, status=Referral.Status.PENDING).first()
    if referral is None:
        return None
    program = program_get()
    first = _first_purchase(referred)
    if first is None or first.occurred_at + timedelta(days=program.pending_days) > as_of:
        return None
    referral.purchase = first
    referral.resolved_at = as_of
    referrer = member_lock(member_id=referral.referrer_id)
    if referrer.merged_into_id:
        # The referrer enrolled twice and was merged since: the member who stays is paid.
        referrer = member_follow_merges(referrer, lock=True)
    if referrer.pk == referred.pk:
        # The referrer was merged into the member it referred: one person enrolled twice
        # and referred themselves (no self-referral). Both rows are the same member here,
        # so paying both bonuses would also save two copies of one balance.
        referral.status = Referral.Status.SELF_REFERRAL
    elif first.refunded_amount >= first.amount:
        referral.status = Referral.Status.VOID
    elif (
        program.referral_cap_per_year is not None
        and referral_year_count(referrer=referrer, program=program, as_of=as_of)
        >= program.referral_cap_per_year
    ):
        referral.status = Referral.Status.CAPPED
    else:
        referral.status = Referral.Status.REWARDED
        referral.referred_points = _bonus(
            referred,
            program=program,
            points=program.referral_referred_points,
            as_of=as_of,
            words=ledger_words.referral_welcome,
            description=_("+%(points)d for joining through a friend"),
            reference=f"referral:{referral.pk}",
        )
        if referrer.status == Member.Status.ACTIVE:
            referral.referrer_points = _bonus(
                referrer,
                program=program,
                points=program.referral_referrer_points,
                as_of=as_of,
                words=ledger_words.referral_bonus,
                description=_("+%(points)d for referring a friend"),
                reference=f"referral:{referral.pk}",
            )
    referral.save()
    return referral


def referral_merge_decide(*, referred: Member, as_of: datetime) -> Referral | None:
    """Inside a merge of `referred` into another member (`rewards.services.merges`, which
    holds the referred member's lock): its pending referral is decided `merged` and pays
    nobody, since the member who stays was a customer already and nobody was brought in.
    Left pending, it would never be decided: its first purchase moves with the merge. A
    decided referral stays as it is. Returns the referral decided, or None."""
    referral = Referral.objects.filter(referred=referred, status=Referral.Status.PENDING).first()
    if referral is None:
        return None
    referral.status = Referral.Status.MERGED
    referral.resolved_at = as_of
    referral.save(update_fields=["status", "resolved_at"])
    return referral


def _bonus(member: Member, *, program, points, as_of, words, description, reference) -> int:
    if not points or member.status != Member.Status.ACTIVE:
        return 0
    bonus_award(
        member,
        program=program,
        words=BonusWords(
            points=points,
            words=words(points=points),
            description=description % {"points": points},
            reference=reference,
        ),
        as_of=as_of,
        actor=Actor.system(),
        source=EarnAward.Source.REFERRAL,
    )
    balance_save(member)
    return points


def referral_due_member_id_list(
    *, as_of: datetime, after: int = 0, upto: int | None = None
) -> QuerySet[int]:
    """Ids of referred members with a pending referral and a purchase that is available by
    `as_of` (dated at least the returns window before it), within `after < id <= upto`."""
    program = program_get()
    referrals = Referral.objects.filter(
        status=Referral.Status.PENDING,
        referred_id__gt=after,
        referred__purchases__occurred_at__lte=as_of - timedelta(days=program.pending_days),
    )
    if upto is not None:
        referrals = referrals.filter(referred_id__lte=upto)
    return referrals.values_list("referred_id", flat=True).distinct().order_by("referred_id")


def member_referral_nightly_resolve(*, member_id: int, as_of: datetime) -> Counter:
    """The nightly `referrals` job for one referred member: what changed, as counts."""
    referral = referral_resolve(member_id=member_id, as_of=as_of)
    if referral is None:
        return Counter()
    return Counter(
        **{f"referrals_{referral.status}": 1},
        points_referral=referral.referrer_points + referral.referred_points,
    )
