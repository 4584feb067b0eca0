"""Reads of the fitted models and the members' scores."""

from django.db.models import QuerySet

from members.models import Member
from metrics.errors import ModelNotFitted
from metrics.models import MemberPrediction, PredictionFit


def prediction_fit_current_get() -> PredictionFit:
    """The last converged fit, whose scores the members carry. Raises ModelNotFitted."""
    fit = PredictionFit.objects.filter(converged=True).order_by("-created_at", "-pk").first()
    if fit is None:
        raise ModelNotFitted()
    return fit


def prediction_fit_latest_get() -> PredictionFit | None:
    """The last fit tried, converged or not (the dashboard says when it failed)."""
    return PredictionFit.objects.order_by("-created_at", "-pk").first()


def member_prediction_get(*, member: Member) -> MemberPrediction | None:
    """None for a member with no purchase as of the last fit (or before the first fit)."""
    return MemberPrediction.objects.filter(member=member).first()


def member_at_risk_list() -> QuerySet[MemberPrediction]:
    """Members by predicted value lost, historical value × (1 − P(alive)), largest first."""
    return (
        MemberPrediction.objects.select_related("member")
        .filter(value_at_risk__gt=0)
        .order_by("-value_at_risk", "member_id")
    )
