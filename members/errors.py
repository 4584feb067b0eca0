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
