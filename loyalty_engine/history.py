"""The audit trail of staff changes (django-simple-history), shared by the apps' models."""

from django.contrib.auth import get_user_model
from simple_history.models import HistoricalRecords


def staff_user_or_none(request=None, **kwargs):
    """The staff user behind a change, or None for a shop's or member's API call (their
    principals are not users) and for jobs and commands, which name no user."""
    user = getattr(request, "user", None)
    return user if isinstance(user, get_user_model()) else None


def audit_trail(**options) -> HistoricalRecords:
    """Keep every version of the model: who changed it (a staff user, or nobody for the
    API and jobs), when, why if a reason was given, and the fields as they were."""
    return HistoricalRecords(get_user=staff_user_or_none, **options)
