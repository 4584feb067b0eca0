"""Throttles on the shared cache (Redis in production, this process's memory in
development): the rates are REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] in settings.

Two kinds. A *request* throttle counts every request of a scope (member token mints,
survey answers per shop). A *failure* throttle counts only the requests that failed (bad
credentials per client address, unknown voucher codes per shop) and, once over its rate,
refuses every request of that scope before it is checked, so a guesser cannot tell a hit
from a miss. A refused request gets 429 `rate_limited` with Retry-After
(loyalty_engine/errors.py).

https://www.django-rest-framework.org/api-guide/throttling/
"""

import functools
import logging
import time

from django.conf import settings
from rest_framework import exceptions
from rest_framework.throttling import SimpleRateThrottle

from loyalty_engine.serving import client_ip

logger = logging.getLogger(__name__)


def _cache_unavailable(error: Exception) -> bool:
    # An unreachable Redis must not turn requests into 500s: the throttle lets them through
    # (fails open) and says so in the log; /health/ready reports the broker.
    logger.warning("Throttle cache unavailable; request not throttled: %s", error)
    return True


class ShopRateThrottle(SimpleRateThrottle):
    """Every request of the scope, per shop (the caller's Api-Key)."""

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except Exception as error:  # redis-py's errors, whatever the cache backend raises
            return _cache_unavailable(error)

    def get_cache_key(self, request, view):
        shop = getattr(request.user, "shop", None)
        if shop is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": f"shop-{shop.pk}"}


class MemberTokenThrottle(ShopRateThrottle):
    scope = "member_token"


class FeedbackThrottle(ShopRateThrottle):
    scope = "feedback"


class FailureThrottle(SimpleRateThrottle):
    """Counts failures only. `allow_request` refuses once the failures in the window reach
    the rate; `failure_record` adds one."""

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        try:
            self.history = self.cache.get(self.key, [])
        except Exception as error:
            return _cache_unavailable(error)
        self.now = self.timer()
        while self.history and self.history[-1] <= self.now - self.duration:
            self.history.pop()
        return len(self.history) < self.num_requests

    def wait(self):
        # Until the oldest failure in the window leaves it.
        if not self.history:
            return self.duration
        return max(1.0, self.duration - (self.now - self.history[-1]))

    def failure_record(self, request, view) -> None:
        key = self.get_cache_key(request, view)
        if key is None or self.rate is None:
            return
        now = self.timer()
        try:
            history = [t for t in self.cache.get(key, []) if t > now - self.duration]
            history.insert(0, now)
            self.cache.set(key, history, self.duration)
        except Exception as error:
            _cache_unavailable(error)


class FailedAuthenticationThrottle(FailureThrottle):
    """Bad API keys and bad tokens, per client address (behind nginx: the forwarded one)."""

    scope = "failed_auth"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": client_ip(request)}


class VoucherMissThrottle(FailureThrottle):
    """Voucher codes that do not exist, looked up or used, per shop: guessing codes."""

    scope = "voucher_miss"
    failure_statuses = frozenset({404})

    def get_cache_key(self, request, view):
        shop = getattr(request.user, "shop", None)
        if shop is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": f"shop-{shop.pk}"}


class CountsFailures:
    """View mixin: after the response, each FailureThrottle of the view whose
    `failure_statuses` include the response's status counts one failure."""

    def finalize_response(self, request, response, *args, **kwargs):
        for throttle in self.get_throttles():
            statuses = getattr(throttle, "failure_statuses", ())
            if isinstance(throttle, FailureThrottle) and response.status_code in statuses:
                throttle.failure_record(request, self)
        return super().finalize_response(request, response, *args, **kwargs)


class CleanAddresses:
    """Client addresses whose failure count this process read as empty within the last
    `FAILED_AUTH_CLEAN_SECONDS` (1 s by default): their requests skip reading the count
    in the shared cache meanwhile, a round trip on every authenticated request. A failure
    in this process forgets the address at once; failures counted by other processes
    reach this one within that time."""

    def __init__(self):
        self._until: dict[str, float] = {}

    def is_clean(self, address: str) -> bool:
        return self._until.get(address, 0.0) > time.monotonic()

    def mark(self, address: str) -> None:
        seconds = settings.FAILED_AUTH_CLEAN_SECONDS
        if seconds <= 0:
            return
        if len(self._until) >= 10_000:  # bounded: old entries go all at once
            self._until.clear()
        self._until[address] = time.monotonic() + seconds

    def forget(self, address: str) -> None:
        self._until.pop(address, None)


clean_addresses = CleanAddresses()


def failed_authentication_throttled(cls):
    """Class decorator for a DRF authentication class: a client address with too many
    recent failed authentications is refused (429) before its credentials are looked at,
    and each AuthenticationFailed the class raises counts one failure."""
    authenticate = cls.authenticate

    @functools.wraps(authenticate)
    def wrapper(self, request):
        if not request.META.get("HTTP_AUTHORIZATION"):
            return authenticate(self, request)
        throttle = FailedAuthenticationThrottle()
        address = client_ip(request)
        if not clean_addresses.is_clean(address):
            if not throttle.allow_request(request, None):
                raise exceptions.Throttled(wait=throttle.wait())
            if getattr(throttle, "history", None) == []:
                clean_addresses.mark(address)
        try:
            return authenticate(self, request)
        except exceptions.AuthenticationFailed:
            clean_addresses.forget(address)
            throttle.failure_record(request, None)
            raise

    cls.authenticate = wrapper
    return cls
