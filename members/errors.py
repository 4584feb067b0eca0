from loyalty_engine.errors import Conflict, DomainError, NotFound


class MemberNotFound(NotFound):
    code = "member_not_found"
    message = "No member has this external id."


class MemberExists(Conflict):
    code = "member_exists"
    message = "A member with this external id is already enrolled."


class MemberNotActive(DomainError):
    code = "member_not_active"
    message = "The member is suspended or erased; points cannot move."


class MemberErased(Conflict):
    code = "member_erased"
    message = "The member was erased; nothing about them can change any more."


class MemberNotSuspended(Conflict):
    code = "member_not_suspended"
    message = "Only a suspended member can be reactivated."


class MemberAlreadySuspended(Conflict):
    code = "member_already_suspended"
    message = "The member is already suspended."


class MemberMerged(Conflict):
    code = "member_merged"
    message = (
        "The member was merged into another; what they spent before the merge can no longer "
        "be cancelled, and they cannot be merged again."
    )
