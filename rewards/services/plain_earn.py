"""The plain earn in one round trip on PostgreSQL (issue 18).

Nearly every purchase a till sends is plain: a member, an order id, an amount in the
program's currency, now. When the program has no tier, purchase rule or milestone, no
pending days and no inactivity expiry, such a purchase earns its base points and nothing
else reads or writes anything but the member's row and the rows of the earn. Then
`plain_earn_try` computes what Python computes for it (the points, the expiry, the local
date, the texts, the event's reason) from a copy of the program kept by the process, and
one statement, `loyalty_earn_plain` (migration rewards 0020), locks the member and writes
the purchase, the entry, the lot, the award, the balance and the event: the same rows as
the Python path (`purchases.purchase_write`), which tests/rewards/test_plain_earn.py
compares row by row.

Whenever the earn is not plain, the function writes nothing and says so, and the caller
runs the Python path, which answers as always: an unknown, merged or inactive member, a
member who owes points, a program that changed since this process read it (then read
again), a tier, rule or milestone configured (then not asked again for 10 s), a repeat or
a conflicting order id (the insert's unique key), any database error. SQLite has no such
function: it runs the Python path. The setting EARN_PLAIN_FUNCTION (on by default) turns
it off.
"""

import json
import logging
import threading
import time
import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone, translation
from psycopg.types.json import Jsonb

from loyalty_engine import i18n
from loyalty_engine.events.outbox import dispatch_soon
from loyalty_engine.rows import row_fetch
from members.models import Shop
from rewards import ledger_words
from rewards.models import EarnRule, ExpiryPolicy, Program, Purchase
from rewards.services.earning import purchase_points_calculate
from rewards.services.idempotency import WriteResult
from rewards.services.ledger import lot_expires_at

logger = logging.getLogger(__name__)

_PURCHASE_KINDS = sorted(EarnRule.PURCHASE_KINDS)
_CALL = "SELECT loyalty_earn_plain(" + ", ".join(["%s"] * 18) + ")"
# The function's answers when the program row is not the version the caller read, and
# when a tier, purchase rule or milestone is configured.
PROGRAM_CHANGED = "program"
CONFIGURED = "configured"
# After the function said a tier, rule or milestone is configured, earns take the Python
# path without asking it for this many seconds: a program with tiers pays one call that
# writes nothing per process per 10 s, not one per earn. Likewise a copy of the program
# that is not plain (pending days, say) is read again when it is this old. (Only the
# faster path waits: whatever makes an earn not plain, the function sees at once.)
CONFIGURED_TRUSTED_SECONDS = 10.0


@dataclass(frozen=True)
class _ProgramCopy:
    program: Program
    version: str  # the row's xmin:ctid when it was read
    read_at: float  # time.monotonic()


_copy = threading.local()


def _program_copy() -> _ProgramCopy | None:
    """This process's copy of the program row, read when there is none (per thread: each
    has its own connection). None when the program row is not made yet."""
    copy = getattr(_copy, "value", None)
    if copy is None:
        program = (
            Program.objects.annotate(row_version=RawSQL("xmin::text || ':' || ctid::text", []))
            .filter(pk=1)
            .first()
        )
        if program is None:
            return None
        copy = _copy.value = _ProgramCopy(
            program=program, version=program.row_version, read_at=time.monotonic()
        )
    return copy


def program_copy_forget() -> None:
    """Forget the program copy and what the function said about the program."""
    _copy.value = None
    _copy.configured_at = None


def _configured_recently() -> bool:
    said = getattr(_copy, "configured_at", None)
    return said is not None and time.monotonic() - said < CONFIGURED_TRUSTED_SECONDS


def _is_plain(program: Program, *, currency: str) -> bool:
    """The program's side of a plain earn, as far as Python reads it: the function checks
    the rest (tiers, rules, milestones) and the member."""
    return (
        currency == program.currency
        and program.pending_days == 0
        and program.expiry_policy != ExpiryPolicy.INACTIVITY
    )


def _texts(program: Program, amount: Decimal) -> tuple[dict, str, int]:
    """The response's items in each language the answer may be in, the default of them,
    and the points. Outside a request, or when the request named its language, the active
    language only; else every supported language, of which the function takes the
    member's, as `i18n.speak_to` would choose it."""
    active = translation.get_language() or settings.LANGUAGE_CODE
    if i18n.in_request() and not i18n.is_explicit():
        languages, default = i18n.SUPPORTED, i18n.program_language()
    else:
        languages, default = (active,), active
    texts, points = {}, None
    for code in languages:
        with translation.override(code):
            calculation = purchase_points_calculate(program=program, amount=amount)
        texts[code] = [item.as_dict() for item in calculation.items]
        points = calculation.points
    return texts, default, points


def plain_earn_try(
    *,
    shop: Shop,
    member_external_id: str,
    order_id: str,
    amount: Decimal,
    currency: str,
    request_hash: str,
    as_of: datetime | None = None,
) -> WriteResult | None:
    """Record a plain purchase now in one statement, or None when it is not plain (or the
    statement failed): nothing is written then, and the caller runs the Python path."""
    db = connections[DEFAULT_DB_ALIAS]
    if db.vendor != "postgresql" or not settings.EARN_PLAIN_FUNCTION:
        return None
    if _configured_recently():
        return None
    copy = _program_copy()
    if copy is not None and not _is_plain(copy.program, currency=currency):
        if time.monotonic() - copy.read_at < CONFIGURED_TRUSTED_SECONDS:
            return None
        _copy.value = None  # perhaps plain now: read again
        copy = _program_copy()
    if copy is None or not _is_plain(copy.program, currency=currency):
        return None
    program = copy.program
    as_of = as_of or timezone.now()
    texts, default, points = _texts(program, amount)
    expires_at = lot_expires_at(program=program, earned_at=as_of)
    if points <= 0 or (expires_at is not None and expires_at <= as_of):
        return None
    words = ledger_words.earned(points=points, order_id=order_id, amount=amount, currency=currency)
    params = [
        member_external_id,
        shop.pk,
        order_id,
        amount,
        currency,
        points,
        request_hash,
        as_of,
        expires_at,
        as_of.astimezone(program.tz).date(),
        copy.version,
        _PURCHASE_KINDS,
        Jsonb(texts),
        default,
        Jsonb(words.params),
        uuid.uuid4(),
        ledger_words.words_in_english(words),
        timezone.now(),
    ]
    try:
        # In a test's transaction, a savepoint; in production this raises inside any
        # transaction, as the Python path's durable write does.
        with transaction.atomic(durable=True) if db.in_atomic_block else nullcontext():
            row = row_fetch(_CALL, params)
    except DatabaseError as error:
        logger.debug("The plain earn of order %s fell back to Python: %s", order_id, error)
        return None
    # Django reads jsonb as its text (django.db.backends.postgresql registers that loader).
    answer = json.loads(row[0]) if row and row[0] is not None else None
    if answer == PROGRAM_CHANGED:
        program_copy_forget()
        return None
    if answer == CONFIGURED:
        _copy.configured_at = time.monotonic()
        return None
    if answer is None:
        return None
    # As the Python path: what follows speaks the member's language.
    i18n.speak_to(SimpleNamespace(language=answer["language"]))
    response = {
        "order_id": order_id,
        "points_earned": points,
        "points_pending": 0,
        "items": texts[answer["language"]],
        "balance": answer["balance"],
        "tier": None,
        "tier_changed": False,
        "milestones_reached": [],
    }
    purchase = Purchase(
        pk=answer["purchase_id"],
        shop=shop,
        member_id=answer["member_id"],
        order_id=order_id,
        amount=amount,
        currency=currency,
        occurred_at=as_of,
        created_at=as_of,
        points_earned=points,
        request_hash=request_hash,
        response=response,
    )
    purchase._state.adding = False
    dispatch_soon()
    return WriteResult(record=purchase, replayed=False)
