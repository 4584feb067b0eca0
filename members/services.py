from datetime import datetime

from django.conf import settings
from django.core import signing
from django.utils import timezone

from loyalty_engine.db import durable_write
from members.errors import MemberNotActive
from members.models import Member, Shop, ShopAPIKey

MEMBER_TOKEN_SALT = "members.token"


def member_create(
    *,
    external_id: str,
    email: str = "",
    name: str = "",
    birth_date=None,
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
        enrolled_at=enrolled_at,
    )


def member_token_issue(*, member: Member, now: datetime | None = None) -> tuple[str, datetime]:
    """A signed token naming the member, for the shop to hand to its front end.
    It is valid for MEMBER_TOKEN_TTL_SECONDS. Raises MemberNotActive."""
    if member.status != Member.Status.ACTIVE:
        raise MemberNotActive("Tokens are issued to active members only.")
    now = now or timezone.now()
    token = signing.dumps({"m": member.pk}, salt=MEMBER_TOKEN_SALT, compress=True)
    return token, now + timezone.timedelta(seconds=settings.MEMBER_TOKEN_TTL_SECONDS)


def member_token_verify(token: str) -> int | None:
    """The member id a valid, unexpired token names, or None."""
    try:
        payload = signing.loads(
            token, salt=MEMBER_TOKEN_SALT, max_age=settings.MEMBER_TOKEN_TTL_SECONDS
        )
    except signing.BadSignature:
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
