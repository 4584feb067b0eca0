"""Who is calling: a shop with an API key, or a member with a token minted by a shop."""

import hashlib
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils.translation import gettext
from rest_framework import authentication, exceptions, permissions

from loyalty_engine import i18n
from loyalty_engine.rows import Columns, VendorCache, row_fetch
from loyalty_engine.throttling import failed_authentication_throttled
from members.models import Member, Shop, ShopAPIKey
from members.services import member_follow_merges, member_token_verify


@dataclass(frozen=True)
class ShopPrincipal:
    shop: Shop
    is_authenticated: bool = True


@dataclass(frozen=True)
class MemberPrincipal:
    member: Member
    is_authenticated: bool = True


class VerifiedKeys:
    """The API keys this process verified in the last `API_KEY_CACHE_SECONDS` (1 s by
    default), with their shop: a shop's requests skip the key's lookup and hash check
    in between. A key revoked, a shop deactivated, in this process or any other, is
    refused within that time; in this process at once (the receivers below).

    Held by the SHA-256 of the key, never the key itself, so the lookup compares digests
    and a memory dump holds no usable key."""

    def __init__(self):
        self._keys: dict[bytes, tuple[float, ShopAPIKey]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _digest(key: str) -> bytes:
        return hashlib.sha256(key.encode()).digest()

    def get(self, key: str) -> ShopAPIKey | None:
        found = self._keys.get(self._digest(key))
        if found is None or found[0] <= time.monotonic():
            return None
        return found[1]

    def put(self, key: str, api_key: ShopAPIKey) -> None:
        seconds = settings.API_KEY_CACHE_SECONDS
        if seconds <= 0:
            return
        with self._lock:
            if len(self._keys) >= 10_000:  # bounded: old entries go all at once
                self._keys.clear()
            self._keys[self._digest(key)] = (time.monotonic() + seconds, api_key)

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()


verified_keys = VerifiedKeys()


@receiver([post_save, post_delete], sender=ShopAPIKey, dispatch_uid="verified_keys_key")
@receiver([post_save, post_delete], sender=Shop, dispatch_uid="verified_keys_shop")
def verified_keys_forget(**kwargs) -> None:
    verified_keys.clear()


@failed_authentication_throttled
class ShopKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Api-Key <key>`, checked against the hashed keys of active shops."""

    keyword = "Api-Key"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        scheme, _, key = header.partition(" ")
        if scheme != self.keyword:
            return None
        key = key.strip()
        if not key or len(key) > 200 or not key.isprintable():
            raise exceptions.AuthenticationFailed(gettext("The API key is malformed."))
        api_key = verified_keys.get(key)
        if api_key is None:
            try:
                api_key = ShopAPIKey.objects.get_from_key(key)
            except ShopAPIKey.DoesNotExist:
                raise exceptions.AuthenticationFailed(
                    gettext("The API key is not valid.")
                ) from None
            if not api_key.has_expired and api_key.shop.is_active:
                verified_keys.put(key, api_key)
        # Checked on every request, cached or not: a key's expiry date can pass meanwhile.
        if api_key.has_expired or not api_key.shop.is_active:
            raise exceptions.AuthenticationFailed(gettext("The API key is revoked or expired."))
        return ShopPrincipal(shop=api_key.shop), api_key

    def authenticate_header(self, request):
        return self.keyword


def _member_by_pk_query() -> tuple[Columns, str]:
    columns = Columns.of(Member, "member")
    table = Member._meta.db_table
    return columns, f"SELECT {columns.sql} FROM {table} AS member WHERE member.id = %s"


_member_by_pk_sql = VendorCache(_member_by_pk_query)


def member_by_pk(pk: int) -> Member | None:
    """As Member.objects.filter(pk=pk).first(), without compiling a query on every member
    request (issue 18: compiling was 40% of a balance read's CPU)."""
    columns, sql = _member_by_pk_sql.get()
    row = row_fetch(sql, [pk])
    return None if row is None else columns.instance(row)


@failed_authentication_throttled
class MemberTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <member token>`."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        scheme, _, token = header.partition(" ")
        if scheme != self.keyword:
            return None
        member_id = member_token_verify(token.strip())
        # A view may read what it needs with the member, in the same statement
        # (`member_read`, see MemberApi).
        view = request.parser_context.get("view")
        read = getattr(view, "member_read", None) or member_by_pk
        member = read(member_id) if member_id else None
        if member is not None and member.merged_into_id:
            member = member_follow_merges(member)  # a token of a member merged since
        if member is None:
            raise exceptions.AuthenticationFailed(
                gettext("The member token is not valid or has expired.")
            )
        # Checked on every request, not when minting: suspending or erasing a member
        # ends the tokens already handed out at once.
        if member.status != Member.Status.ACTIVE:
            raise exceptions.AuthenticationFailed(gettext("The member's account is not active."))
        # The member's language, unless the request named one (loyalty_engine.i18n).
        i18n.activate_for_member(member)
        return MemberPrincipal(member=member), token

    def authenticate_header(self, request):
        return self.keyword


class WrongCredentialAuthentication(authentication.BaseAuthentication):
    """Last in a view's list: an Authorization header that none of the view's own schemes
    took is a credential of the wrong kind (a member token on a shop endpoint, …); say so
    instead of "credentials were not provided"."""

    expected = ""
    # Not a scheme of its own: the OpenAPI schema leaves it out (loyalty_engine/schema.py).
    documented = False

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if header.strip():
            scheme = header.split(" ", 1)[0][:20]
            # Still `not_authenticated`: no credential this endpoint takes was sent.
            raise exceptions.NotAuthenticated(
                f"This endpoint takes {self.expected}; the request sent "
                f"a '{scheme}' credential, which is of another kind."
            )
        return None


class ShopCredentialExpected(WrongCredentialAuthentication):
    expected = "a shop's API key (Authorization: Api-Key <key>)"


class MemberCredentialExpected(WrongCredentialAuthentication):
    expected = "a member token (Authorization: Bearer <token>)"


class StaffCredentialExpected(WrongCredentialAuthentication):
    expected = "a staff token (Authorization: Token <key>) or an admin session"


class IsShop(permissions.BasePermission):
    def has_permission(self, request, view):
        return isinstance(request.user, ShopPrincipal)


class IsMember(permissions.BasePermission):
    def has_permission(self, request, view):
        return isinstance(request.user, MemberPrincipal)


class ShopApi:
    """Mixin for views a shop's backend calls."""

    authentication_classes = [ShopKeyAuthentication, ShopCredentialExpected]
    permission_classes = [IsShop]


class MemberApi:
    """Mixin for views a member calls with a token."""

    authentication_classes = [MemberTokenAuthentication, MemberCredentialExpected]
    permission_classes = [IsMember]
    # How the member behind the token is read: a function of its primary key that returns
    # the Member or None (`member_by_pk`). A view's own can read more in the same round
    # trip (the balance read: the member's expiring points).
    member_read = None
