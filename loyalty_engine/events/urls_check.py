"""Which webhook URLs the engine posts to (SSRF): https only, to hosts that resolve to
public addresses only. WEBHOOK_ALLOW_LOCAL (development and tests) also allows plain http
and loopback, private and link-local addresses."""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils.translation import gettext as _


def _address_refused(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def webhook_url_check(url: str, *, resolve: bool = True) -> str:
    """The URL, if the engine may post to it. Raises ValidationError with code
    `invalid_url`, `insecure_url` or `address_not_allowed`."""
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise ValidationError(_("Enter a valid http or https URL."), code="invalid_url") from None
    allow_local = settings.WEBHOOK_ALLOW_LOCAL
    parts = urlsplit(url)
    if parts.scheme != "https" and not allow_local:
        raise ValidationError(_("Webhook URLs must use https."), code="insecure_url")
    if not resolve or allow_local:
        return url
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise ValidationError(
            _("The host %(host)s does not resolve.") % {"host": parts.hostname},
            code="address_not_allowed",
        ) from None
    for info in infos:
        if _address_refused(info[4][0]):
            raise ValidationError(
                _(
                    "The host %(host)s resolves to %(address)s, a loopback, private or "
                    "link-local address."
                )
                % {"host": parts.hostname, "address": info[4][0]},
                code="address_not_allowed",
            )
    return url
