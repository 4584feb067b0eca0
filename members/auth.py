"""Who is calling: a shop with an API key, or a member with a token minted by a shop."""

from dataclasses import dataclass

from django.utils.translation import gettext
from rest_framework import authentication, exceptions, permissions

from loyalty_engine import i18n
from loyalty_engine.throttling import failed_authentication_throttled
from members.models import Member, Shop, ShopAPIKey
from members.services import member_token_verify


@dataclass(frozen=True)
class ShopPrincipal:
    shop: Shop
    is_authenticated: bool = True


@dataclass(frozen=True)
class MemberPrincipal:
    member: Member
    is_authenticated: bool = True


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
        try:
            api_key = ShopAPIKey.objects.get_from_key(key)
        except ShopAPIKey.DoesNotExist:
            raise exceptions.AuthenticationFailed(gettext("The API key is not valid.")) from None
        if api_key.has_expired or not api_key.shop.is_active:
            raise exceptions.AuthenticationFailed(gettext("The API key is revoked or expired."))
        return ShopPrincipal(shop=api_key.shop), api_key

    def authenticate_header(self, request):
        return self.keyword


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
        member = Member.objects.filter(pk=member_id).first() if member_id else None
        if member is None or member.status == Member.Status.ERASED:
            raise exceptions.AuthenticationFailed(
                gettext("The member token is not valid or has expired.")
            )
        # The member's language, unless the request named one (loyalty_engine.i18n).
        i18n.activate_for_member(member)
        return MemberPrincipal(member=member), token

    def authenticate_header(self, request):
        return self.keyword


class IsShop(permissions.BasePermission):
    def has_permission(self, request, view):
        return isinstance(request.user, ShopPrincipal)


class IsMember(permissions.BasePermission):
    def has_permission(self, request, view):
        return isinstance(request.user, MemberPrincipal)


class ShopApi:
    """Mixin for views a shop's backend calls."""

    authentication_classes = [ShopKeyAuthentication]
    permission_classes = [IsShop]


class MemberApi:
    """Mixin for views a member calls with a token."""

    authentication_classes = [MemberTokenAuthentication]
    permission_classes = [IsMember]
