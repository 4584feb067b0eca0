from django.utils.translation import gettext_lazy as _

from loyalty_engine.errors import Conflict, DomainError, NotFound


class MemberNotFound(NotFound):
    code = "member_not_found"
    message = _("No member has this external id.")


class MemberExists(Conflict):
    code = "member_exists"
    message = _("A member with this external id is already enrolled.")


class MemberNotActive(DomainError):
    code = "member_not_active"
    message = _("The member is suspended or erased; points cannot move.")


class MemberErased(Conflict):
    code = "member_erased"
    message = _("The member was erased; nothing about them can change any more.")


class MemberNotSuspended(Conflict):
    code = "member_not_suspended"
    message = _("Only a suspended member can be reactivated.")


class MemberAlreadySuspended(Conflict):
    code = "member_already_suspended"
    message = _("The member is already suspended.")


class MemberMerged(Conflict):
    code = "member_merged"
    message = _(
        "The member was merged into another; what they spent before the merge can no longer "
        "be cancelled, and they cannot be merged again."
    )
