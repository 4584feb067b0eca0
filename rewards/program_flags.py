"""Whether the program has any tier, active purchase rule and active milestone, as three
columns of a hand-written SELECT: a purchase reads them with the program and skips the
reads of what is not configured (rewards.selectors.program_for_purchase_get and the
member lock of rewards.services.ledger)."""

from rewards.models import EarnRule, Milestone, Tier

_PURCHASE_KINDS = sorted(EarnRule.PURCHASE_KINDS)


def program_flags_sql() -> tuple[str, list[str]]:
    """(SQL of the three columns has_tiers, has_purchase_rules, has_milestones, their
    parameters). The table names come from the models' metadata; the values are
    parameters."""
    sql = f"""EXISTS (SELECT 1 FROM {Tier._meta.db_table}) AS has_tiers,
        EXISTS (
            SELECT 1 FROM {EarnRule._meta.db_table}
            WHERE is_active AND kind IN ({", ".join(["%s"] * len(_PURCHASE_KINDS))})
        ) AS has_purchase_rules,
        EXISTS (SELECT 1 FROM {Milestone._meta.db_table} WHERE is_active) AS has_milestones"""
    return sql, list(_PURCHASE_KINDS)
