"""Transaction boundaries for write services, with the one bounded retry loop."""

import functools
import logging
import random
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import OperationalError, transaction

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


def durable_write(fn: Callable[P, R]) -> Callable[P, R]:
    """Run `fn` as the outermost transaction (atomic(durable=True)), retrying it on
    deadlocks and serialization failures a bounded number of times with jittered backoff.
    The events it emits are written in one statement at the end of its transaction
    (loyalty_engine.events.outbox)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                with transaction.atomic(durable=True), outbox.collecting():
                    return fn(*args, **kwargs)
            except OperationalError as error:
                if attempt == MAX_ATTEMPTS or not is_retryable(error):
                    raise
                logger.warning("Retrying %s after %s (attempt %d)", fn.__name__, error, attempt)
                time.sleep(random.uniform(0, 0.02 * 2**attempt))
        raise AssertionError("unreachable")

    return wrapper
