"""The members app's part of a member's own data export (members.personal_data)."""

from members.models import Member


def member_profile_export(member: Member) -> dict:
    return {
        "profile": {
            "external_id": member.external_id,
            "email": member.email,
            "name": member.name,
            "birth_date": member.birth_date,
            "status": member.status,
            "enrolled_at": member.enrolled_at,
            "points_available": member.points_available,
            "points_pending": member.points_pending,
            "points_held": member.points_held,
            "points_owed": member.points_owed,
            "lifetime_earned": member.lifetime_earned,
        },
        # The program asks for no consents and stores none: an empty list, said explicitly.
        "consents": [],
    }
