"""The audit trail of staff changes (django-simple-history), shared by the apps' models."""

from django.contrib.auth import get_user_model
from simple_history.models import HistoricalRecords


def staff_user_or_none(request=None, **kwargs):
    """The staff user behind a change, or None for a shop's or member's API call (their
    principals are not users) and for jobs and commands, which name no user."""
    user = getattr(request, "user", None)
    return user if isinstance(user, get_user_model()) else None


class AuditTrail(HistoricalRecords):
    def fields_included(self, model):
        # The per-language columns django-modeltranslation adds (`name_sv`) are added after
        # the historical model is built, so it has no columns for them: the trail keeps
        # the original field (the default language's value) only.
        return [
            field
            for field in super().fields_included(model)
            if getattr(field, "translated_field", None) is None
        ]


def audit_trail(**options) -> HistoricalRecords:
    """Keep every version of the model: who changed it (a staff user, or nobody for the
    API and jobs), when, why if a reason was given, and the fields as they were."""
    return AuditTrail(get_user=staff_user_or_none, **options)
