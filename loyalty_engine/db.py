"""Transaction boundaries for write services, with the one bounded retry loop."""

import functools
import logging
import random
import time
from collections.abc import Callable
from contextlib import nullcontext
from typing import ParamSpec, TypeVar

from django.db import OperationalError, transaction

from loyalty_engine import rows
from loyalty_engine.events import outbox

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

# SQLSTATEs worth retrying: serialization_failure and deadlock_detected.
# https://www.postgresql.org/docs/current/mvcc-serialization-failure-handling.html
RETRYABLE_SQLSTATES = {"40001", "40P01"}
MAX_ATTEMPTS = 4


def is_retryable(error: BaseException) -> bool:
    cause = error.__cause__
    return getattr(cause, "sqlstate", None) in RETRYABLE_SQLSTATES


def durable_write(fn: Callable[P, R] | None = None, *, pipelined: bool = False) -> Callable[P, R]:
    """Run `fn` as the outermost transaction (atomic(durable=True)), retrying it on
    deadlocks and serialization failures a bounded number of times with jittered backoff.
    The events it emits are written in one statement at the end of its transaction
    (loyalty_engine.events.outbox).

    `@durable_write(pipelined=True)`: the hot paths (an earn, a redemption) send the
    statements nobody waits for without waiting (loyalty_engine.rows.pipelined), the
    writes among them as one statement, and the last of them with the COMMIT; a failure
    of one of them is raised as the database error it was, at the end at the latest."""
    if fn is None:
        return functools.partial(durable_write, pipelined=pipelined)

    def attempt(*args: P.args, **kwargs: P.kwargs) -> R:
        pipeline = rows.pipelined(commit=True) if pipelined else nullcontext()
        try:
            with transaction.atomic(durable=True), pipeline, outbox.collecting():
                return fn(*args, **kwargs)
        except rows.DeferredWriteFailed as failed:
            raise failed.error from failed.error.__cause__

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt_number in range(1, MAX_ATTEMPTS + 1):
            try:
                return attempt(*args, **kwargs)
            except OperationalError as error:
                if attempt_number == MAX_ATTEMPTS or not is_retryable(error):
                    raise
                logger.warning(
                    "Retrying %s after %s (attempt %d)", fn.__name__, error, attempt_number
                )
                time.sleep(random.uniform(0, 0.02 * 2**attempt_number))
        raise AssertionError("unreachable")

    return wrapper
