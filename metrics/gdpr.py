"""The metrics app's part of a member's own data: their survey answers, to export and to
erase (members.personal_data). Registered in MetricsConfig.ready()."""

from members.models import Member
from members.personal_data import PersonalData
from metrics.models import Feedback


def member_feedback_export(member: Member) -> dict:
    return {
        "feedback": list(
            Feedback.objects.filter(member=member)
            .order_by("answered_at", "id")
            .values("feedback_id", "shop__name", "kind", "score", "comment", "answered_at")
        )
    }


def member_feedback_erase(member: Member, personal: PersonalData) -> None:
    """Remove the comments (free text the member wrote) and the member's external id from
    the stored responses of their answers. The scores stay: the NPS and CSAT of past
    periods don't move."""
    for feedback in Feedback.objects.filter(member=member).only("pk", "comment", "response"):
        response = personal.scrub({**feedback.response, "comment": ""})
        Feedback.objects.filter(pk=feedback.pk).update(comment="", response=response)
