"""Every member's referral code, derived from the member's id: no column to fill, nothing
to migrate, and the bulk import enrolls members with their codes for free.

A code is the member id in Crockford base32 and a 5-character keyed check (25 bits of an
HMAC with the project's secret key), such as `1Z-7K3MQ`: a member cannot guess another
member's code from their own. Case, spaces and hyphens don't matter; O reads as 0 and I or L
as 1. Changing DJANGO_SECRET_KEY changes every code (links already shared stop working).
"""

import hashlib
import hmac

from django.conf import settings

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CHECK_CHARS = 5


def _base32(number: int) -> str:
    digits = ""
    while True:
        number, rest = divmod(number, 32)
        digits = ALPHABET[rest] + digits
        if not number:
            return digits


def _check(member_id: int) -> str:
    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"referral:{member_id}".encode(), hashlib.sha256
    ).digest()
    return _base32(int.from_bytes(digest[:8], "big") % 32**CHECK_CHARS).rjust(CHECK_CHARS, "0")


def referral_code_for(member_id: int) -> str:
    return f"{_base32(member_id)}-{_check(member_id)}"


def referral_code_member_id(code: str) -> int | None:
    """The member id a well-formed code names, or None (not a code, or a wrong check)."""
    if not isinstance(code, str):
        return None
    normalized = (
        code.upper().replace("-", "").replace(" ", "").replace("O", "0").replace("I", "1")
    ).replace("L", "1")
    if len(normalized) <= CHECK_CHARS or len(normalized) > 20:
        return None
    body, check = normalized[:-CHECK_CHARS], normalized[-CHECK_CHARS:]
    if any(char not in ALPHABET for char in normalized):
        return None
    member_id = 0
    for char in body:
        member_id = member_id * 32 + ALPHABET.index(char)
    if member_id <= 0 or member_id > 2**63 - 1:
        return None
    if not hmac.compare_digest(check, _check(member_id)):
        return None
    return member_id
