"""The ledger's invariants, asserted in tests (the same checks verify_ledger runs)."""

from rewards.services.verification import member_ledger_problems


def assert_reconciles(member) -> None:
    member.refresh_from_db()
    problems = member_ledger_problems(member)
    assert problems == [], problems
