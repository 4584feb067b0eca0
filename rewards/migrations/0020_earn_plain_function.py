"""The plain earn as one PostgreSQL function (issue 18): rewards.services.plain_earn.

`loyalty_earn_plain` locks the member, checks that the earn is plain (an active member
who owes nothing, a program as the caller read it, no tier, purchase rule or milestone),
and writes what the Python path writes for such an earn: the purchase with its stored
response, the ledger entry, the lot, the award, the balance and the points.earned event,
in the one transaction of the statement that calls it. Anything else writes nothing and
returns NULL, or `"program"` when the program changed, or `"configured"` when a tier, rule
or milestone is; the caller runs the Python path (rewards.services.purchases). A unique violation (a repeat or a conflicting order id)
raises, and the caller runs the Python path too, which replays or refuses it.

The caller computes the points, the expiry, the local date, the texts in each language it
may answer in, and the event's reason, from the program it read: the function checks that
the program row is still that version (`xmin` and `ctid`: a new version of the row has a
new pair, also within one transaction). SQLite has no such function: it keeps the Python
path, which tests/rewards/test_plain_earn.py proves writes the same rows."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION loyalty_earn_plain(
    p_member_external_id text,
    p_shop_id bigint,
    p_order_id text,
    p_amount numeric,
    p_currency text,
    p_points bigint,
    p_request_hash text,
    p_as_of timestamptz,
    p_expires_at timestamptz,
    p_local_date date,
    p_program_version text,
    p_purchase_kinds text[],
    p_texts jsonb,
    p_default_language text,
    p_message_params jsonb,
    p_event_uid uuid,
    p_event_reason text,
    p_event_created_at timestamptz
) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    m members_member%ROWTYPE;
    v_version text;
    v_language text;
    v_items jsonb;
    v_purchase_id bigint;
    v_entry_id bigint;
    v_balance bigint;
    v_lifetime bigint;
    v_response jsonb;
BEGIN
    SELECT xmin::text || ':' || ctid::text INTO v_version FROM rewards_program WHERE id = 1;
    IF v_version IS DISTINCT FROM p_program_version THEN
        RETURN '"program"'::jsonb;
    END IF;
    IF EXISTS (SELECT 1 FROM rewards_tier)
        OR EXISTS (
            SELECT 1 FROM rewards_earnrule WHERE is_active AND kind = ANY(p_purchase_kinds)
        )
        OR EXISTS (SELECT 1 FROM rewards_milestone WHERE is_active) THEN
        RETURN '"configured"'::jsonb;
    END IF;
    SELECT * INTO m FROM members_member WHERE external_id = p_member_external_id FOR UPDATE;
    IF NOT FOUND OR m.status <> 'active' OR m.merged_into_id IS NOT NULL
        OR m.points_owed <> 0 THEN
        RETURN NULL;
    END IF;
    -- The member's language where the caller offered it, else the caller's default.
    v_language := CASE WHEN p_texts ? m.language THEN m.language ELSE p_default_language END;
    v_items := p_texts -> v_language;
    IF v_items IS NULL THEN
        RETURN NULL;
    END IF;
    v_balance := m.points_available + p_points;
    v_lifetime := m.lifetime_earned + p_points;
    v_response := jsonb_build_object(
        'order_id', p_order_id,
        'points_earned', p_points,
        'points_pending', 0,
        'items', v_items,
        'balance', v_balance,
        'tier', NULL,
        'tier_changed', false,
        'milestones_reached', '[]'::jsonb
    );
    INSERT INTO rewards_purchase (
        request_hash, response, shop_id, member_id, order_id, amount, currency,
        occurred_at, created_at, points_earned, refunded_amount, points_reversed,
        not_earning_amount, points_paid_amount
    ) VALUES (
        p_request_hash, v_response, p_shop_id, m.id, p_order_id, p_amount, p_currency,
        p_as_of, p_as_of, p_points, 0, 0, 0, 0
    ) RETURNING id INTO v_purchase_id;
    INSERT INTO rewards_ledgerentry (
        member_id, kind, points, held_change, owed_change, reason, message_key,
        message_params, reference, purchase_id, refund_id, redemption_id, actor_kind,
        actor_shop_id, actor_user_id, effective_at, created_at
    ) VALUES (
        m.id, 'earn', p_points, 0, 0, '', 'earned', p_message_params,
        'order:' || p_order_id, v_purchase_id, NULL, NULL, 'shop', p_shop_id, NULL,
        p_as_of, p_as_of
    ) RETURNING id INTO v_entry_id;
    INSERT INTO rewards_pointlot (
        member_id, entry_id, purchase_id, points, remaining, earned_at, available_at,
        is_pending, expires_at
    ) VALUES (
        m.id, v_entry_id, v_purchase_id, p_points, p_points, p_as_of, p_as_of, false,
        p_expires_at
    );
    INSERT INTO rewards_earnaward (
        member_id, entry_id, purchase_id, source, rule_id, tier_id, milestone_id,
        description, points, awarded_at, local_date
    ) VALUES (
        m.id, v_entry_id, v_purchase_id, 'base', NULL, NULL, NULL,
        v_items -> 0 ->> 'description', p_points, p_as_of, p_local_date
    );
    UPDATE members_member SET points_available = v_balance, lifetime_earned = v_lifetime
        WHERE id = m.id;
    INSERT INTO events_event (
        uid, type, occurred_at, created_at, member_id, data, dedupe_key, dispatched_at
    ) VALUES (
        p_event_uid, 'points.earned', p_as_of, p_event_created_at, m.id,
        jsonb_build_object(
            'points', p_points,
            'reason', p_event_reason,
            'reference', 'order:' || p_order_id,
            'source', 'purchase',
            'order_id', p_order_id,
            'balance', jsonb_build_object(
                'available', v_balance,
                'pending', m.points_pending,
                'held', m.points_held,
                'owed', m.points_owed,
                'lifetime_earned', v_lifetime
            ),
            'tier', NULL
        ),
        NULL, NULL
    );
    RETURN jsonb_build_object(
        'purchase_id', v_purchase_id, 'member_id', m.id, 'balance', v_balance,
        'language', v_language
    );
END
$$;
"""

DROP = "DROP FUNCTION IF EXISTS loyalty_earn_plain"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0007_verbose_names"),
        ("events", "0002_verbose_names"),
        ("rewards", "0019_indexes_written_on_earn"),
    ]

    operations = [migrations.RunPython(create, drop)]
