"""What every rewards API view shares: limits on input, the request hash for idempotency,
how a write is answered, and money fields."""

import hashlib
import json
from datetime import UTC, datetime, timedelta

from django.utils.translation import gettext
from rest_framework import serializers, status
from rest_framework.response import Response

from loyalty_engine.fields import StrictDecimalField
from rewards.currency import decimal_places, minor_units
from rewards.services.idempotency import WriteResult

# Shops' clocks drift; an occurred_at up to this far ahead of ours is not "the future".
CLOCK_SKEW = timedelta(minutes=5)
# Older purchase dates are data errors, not history worth importing.
EARLIEST_PURCHASE = datetime(2000, 1, 1, tzinfo=UTC)
MAX_POINTS = 1_000_000_000
MAX_ID = 2**63 - 1
REPLAY_HEADER = "Idempotent-Replay"


def request_hash(data: dict) -> str:
    """A stable hash of validated input: the same request always hashes the same."""
    canonical = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def write_response(result: WriteResult | tuple[dict, bool], *, created: bool = True) -> Response:
    """201 (or 200) for a fresh write; 200 with Idempotent-Replay: true for a replay."""
    body, replayed = (
        (result.response, result.replayed) if isinstance(result, WriteResult) else result
    )
    if replayed:
        return Response(body, status=status.HTTP_200_OK, headers={REPLAY_HEADER: "true"})
    return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


def money_field(**kwargs) -> serializers.DecimalField:
    return StrictDecimalField(max_digits=18, decimal_places=4, **kwargs)


def check_minor_units(value, currency: str, field: str) -> None:
    if decimal_places(value) > minor_units(currency):
        raise serializers.ValidationError(
            {
                field: [
                    gettext("%(currency)s has at most %(places)s decimal places.")
                    % {"currency": currency, "places": minor_units(currency)}
                ]
            },
            code="too_many_decimals",
        )
