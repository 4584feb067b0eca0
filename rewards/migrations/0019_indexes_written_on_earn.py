"""Fewer indexes written on every earn (issue 18).

The member's and shop's own indexes on purchases, ledger entries and earn awards repeat
the first column of a composite index that serves the same lookups; the refund,
redemption, staff user, rule, tier and milestone keys are indexed only where they are set.

Only the indexes are dropped: Django's AlterField would also drop and re-add each foreign
key constraint, which checks every row of the ledger again under a lock. The names are
those Django gave the indexes (the same on PostgreSQL and SQLite)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0007_verbose_names"),
        ("rewards", "0018_referral_merged"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="earnaward",
                    name="member",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="earn_awards",
                        to="members.member",
                    ),
                ),
                migrations.AlterField(
                    model_name="earnaward",
                    name="milestone",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="rewards.milestone",
                    ),
                ),
                migrations.AlterField(
                    model_name="earnaward",
                    name="rule",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="awards",
                        to="rewards.earnrule",
                    ),
                ),
                migrations.AlterField(
                    model_name="earnaward",
                    name="tier",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="rewards.tier",
                    ),
                ),
                migrations.AlterField(
                    model_name="ledgerentry",
                    name="actor_user",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="actor user",
                    ),
                ),
                migrations.AlterField(
                    model_name="ledgerentry",
                    name="member",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="ledger_entries",
                        to="members.member",
                        verbose_name="member",
                    ),
                ),
                migrations.AlterField(
                    model_name="ledgerentry",
                    name="redemption",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        to="rewards.redemption",
                        verbose_name="redemption",
                    ),
                ),
                migrations.AlterField(
                    model_name="ledgerentry",
                    name="refund",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        to="rewards.refund",
                        verbose_name="refund",
                    ),
                ),
                migrations.AlterField(
                    model_name="purchase",
                    name="member",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="purchases",
                        to="members.member",
                        verbose_name="member",
                    ),
                ),
                migrations.AlterField(
                    model_name="purchase",
                    name="shop",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="purchases",
                        to="members.shop",
                        verbose_name="shop",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "rewards_earnaward_member_id_d95d1630"',
                    'CREATE INDEX IF NOT EXISTS "rewards_earnaward_member_id_d95d1630" ON "rewards_earnaward" ("member_id")',
                ),
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "rewards_earnaward_milestone_id_332e834c"',
                    'CREATE INDEX IF NOT EXISTS "rewards_earnaward_milestone_id_332e834c" ON "rewards_earnaward" ("milestone_id")',
                ),
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "rewards_earnaward_rule_id_48244747"',
                    'CREATE INDEX IF NOT EXISTS "rewards_earnaward_rule_id_48244747" ON "rewards_earnaward" ("rule_id")',
                ),
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "rewards_earnaward_tier_id_401d14fb"',
                    'CREATE INDEX IF NOT EXISTS "rewards_earnaward_tier_id_401d14fb" ON "rewards_earnaward" ("tier_id")',
                ),
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "rewards_ledgerentry_actor_user_id_603739b3"',
                    'CREATE INDEX IF NOT EXISTS "rewards_ledgerentry_actor_user_id_603739b3" ON "rewards_ledgerentry" ("actor_user_id")',
                ),
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "rewards_ledgerentry_member_id_f6e95ef9"',
                    'CREATE INDEX IF NOT EXISTS "rewards_ledgerentry_member_id_f6e95ef9" ON "rewards_ledgerentry" ("member_id")',
                ),
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "rewards_ledgerentry_redemption_id_ec99e471"',
                    'CREATE INDEX IF NOT EXISTS "rewards_ledgerentry_redemption_id_ec99e471" ON "rewards_ledgerentry" ("redemption_id")',
                ),
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "rewards_ledgerentry_refund_id_c1ba80e4"',
                    'CREATE INDEX IF NOT EXISTS "rewards_ledgerentry_refund_id_c1ba80e4" ON "rewards_ledgerentry" ("refund_id")',
                ),
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "rewards_purchase_member_id_69eef7ca"',
                    'CREATE INDEX IF NOT EXISTS "rewards_purchase_member_id_69eef7ca" ON "rewards_purchase" ("member_id")',
                ),
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "rewards_purchase_shop_id_00eaebce"',
                    'CREATE INDEX IF NOT EXISTS "rewards_purchase_shop_id_00eaebce" ON "rewards_purchase" ("shop_id")',
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="earnaward",
            index=models.Index(
                condition=models.Q(("rule__isnull", False)), fields=["rule"], name="award_rule"
            ),
        ),
        migrations.AddIndex(
            model_name="earnaward",
            index=models.Index(
                condition=models.Q(("tier__isnull", False)), fields=["tier"], name="award_tier"
            ),
        ),
        migrations.AddIndex(
            model_name="earnaward",
            index=models.Index(
                condition=models.Q(("milestone__isnull", False)),
                fields=["milestone"],
                name="award_milestone",
            ),
        ),
        migrations.AddIndex(
            model_name="ledgerentry",
            index=models.Index(
                condition=models.Q(("refund__isnull", False)),
                fields=["refund"],
                name="entry_refund",
            ),
        ),
        migrations.AddIndex(
            model_name="ledgerentry",
            index=models.Index(
                condition=models.Q(("redemption__isnull", False)),
                fields=["redemption"],
                name="entry_redemption",
            ),
        ),
        migrations.AddIndex(
            model_name="ledgerentry",
            index=models.Index(
                condition=models.Q(("actor_user__isnull", False)),
                fields=["actor_user"],
                name="entry_actor_user",
            ),
        ),
    ]
