"""The members app's part of a member's own data export (members.personal_data)."""

from members.models import Member
from members.services import CONSENT_FIELD


def member_profile_export(member: Member) -> dict:
    return {
        "profile": {
            "external_id": member.external_id,
            "email": member.email,
            "name": member.name,
            "birth_date": member.birth_date,
            "language": member.language,
            "status": member.status,
            "enrolled_at": member.enrolled_at,
            "points_available": member.points_available,
            "points_pending": member.points_pending,
            "points_held": member.points_held,
            "points_owed": member.points_owed,
            "lifetime_earned": member.lifetime_earned,
        },
        "consents": member_consents_export(member),
    }


def member_consents_export(member: Member) -> list[dict]:
    """Each email consent the member has (rewards.services.messages says which messages
    need which): whether it is given, and when it last changed (None: as at enrollment),
    read from the member's audit trail."""
    fields = list(CONSENT_FIELD.values())
    versions = Member.history.filter(id=member.pk).order_by("history_date", "history_id")
    changed_at = dict.fromkeys(fields)
    previous = None
    for version in versions.values("history_date", *fields):
        if previous is not None:
            for field in fields:
                if version[field] != previous[field]:
                    changed_at[field] = version["history_date"]
        previous = version
    return [
        {
            "category": category,
            "given": getattr(member, field),
            "changed_at": changed_at[field],
        }
        for category, field in CONSENT_FIELD.items()
    ]
