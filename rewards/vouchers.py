"""Voucher codes, and a voucher's state as a till sees it: pure helpers, no queries.

A code is 16 symbols of Crockford's base32 (80 random bits from `secrets`), shown and
stored in groups of four: `7K3M-Q9XA-2BHD-WT5R`. The alphabet has no I, L, O or U, so a
code read aloud or typed by hand survives: lookups ignore case, spaces and hyphens, and
read O as 0 and I or L as 1. https://www.crockford.com/base32.html
"""

import re
import secrets
from datetime import datetime

from rewards.models import Voucher

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
SYMBOLS = 16  # 16 × 5 bits = 80 bits
GROUP = 4
_MISREAD = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = re.compile(r"[\s-]+")
_VALID = re.compile(f"[{ALPHABET}]{{{SYMBOLS}}}")

EXPIRED = "expired"  # shown, never stored: an issued voucher past its expires_at
DISPLAY_STATUSES = [*Voucher.Status.values, EXPIRED]


def _grouped(symbols: str) -> str:
    return "-".join(symbols[i : i + GROUP] for i in range(0, len(symbols), GROUP))


def voucher_code_new() -> str:
    return _grouped("".join(secrets.choice(ALPHABET) for _ in range(SYMBOLS)))


def voucher_code_normalize(raw: str) -> str | None:
    """The stored form of a code as someone typed it, or None if it cannot be a code."""
    symbols = _SEPARATORS.sub("", raw).upper().translate(_MISREAD)
    if not _VALID.fullmatch(symbols):
        return None
    return _grouped(symbols)


def voucher_is_expired(voucher: Voucher, as_of: datetime) -> bool:
    """Expiry, like every window here, is exclusive: at `expires_at` it no longer works."""
    return voucher.expires_at is not None and voucher.expires_at <= as_of


def voucher_status_at(voucher: Voucher, as_of: datetime) -> str:
    if voucher.status == Voucher.Status.ISSUED and voucher_is_expired(voucher, as_of):
        return EXPIRED
    return voucher.status
