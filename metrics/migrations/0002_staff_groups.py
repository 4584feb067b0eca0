"""The two staff groups, each with the permissions of its own work (README, "Staff admin").

Program manager: program settings, tiers, earn rules, milestones, rewards, adjustment
limits, shops and their API keys, the nightly schedules and runs, and the CSV import.
Support: members (lookup, contact details, adjustments, suspend/reactivate, erase, CSV
export), the read-only ledger, lots, purchases, redemptions and vouchers, and tier pins.
The KPI dashboard is open to every staff user. Superusers keep every permission.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEW = ("view",)
EDIT = ("add", "change", "view")
ALL = ("add", "change", "delete", "view")

GROUPS = {
    "Program manager": {
        "rewards": {
            "program": EDIT,
            "tier": ALL,
            "earnrule": ALL,
            "milestone": ALL,
            "reward": ALL,
            "staffadjustmentlimit": ALL,
            "jobrun": VIEW,
            "csvimport": ("add", "view"),
        },
        "metrics": {"dashboard": VIEW, "kpisnapshot": VIEW, "cohortcell": VIEW},
        "members": {"shop": EDIT, "shopapikey": EDIT},
        "django_celery_beat": {
            "periodictask": ("change", "view"),
            "crontabschedule": EDIT,
            "intervalschedule": EDIT,
            "clockedschedule": EDIT,
            "solarschedule": EDIT,
        },
    },
    "Support": {
        "members": {
            "member": ("change", "view"),
            None: ("adjust_points", "suspend_member", "erase_member", "export_csv"),
        },
        "rewards": {
            "ledgerentry": VIEW,
            "pointlot": VIEW,
            "membertier": ("change", "view"),
            "tierchange": VIEW,
            "purchase": VIEW,
            "refund": VIEW,
            "redemption": VIEW,
            "voucher": VIEW,
        },
        "metrics": {"feedback": VIEW},
    },
}


def codenames(models: dict) -> list[str]:
    names = []
    for model, actions in models.items():
        names += list(actions) if model is None else [f"{a}_{model}" for a in actions]
    return names


def groups_create(apps, schema_editor):
    # Permissions are made after migrations; these must exist now to be granted.
    # A migration state's app configs have no models module, which create_permissions
    # requires; the real registry's (tests call this after a flush) keep theirs.
    for app_config in apps.get_app_configs():
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = models_module or True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = models_module
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, by_app in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        for app_label, models in by_app.items():
            wanted = codenames(models)
            found = list(
                Permission.objects.filter(
                    content_type__app_label=app_label, codename__in=wanted
                )
            )
            missing = set(wanted) - {permission.codename for permission in found}
            if missing:
                raise RuntimeError(f"Missing permissions for {name}: {sorted(missing)}")
            group.permissions.add(*found)


def groups_delete(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        ("members", "0002_history"),
        ("rewards", "0007_csvimport"),
        ("metrics", "0001_initial"),
        ("rewards", "0007_csvimport"),
    ]

    operations = [migrations.RunPython(groups_create, groups_delete)]
