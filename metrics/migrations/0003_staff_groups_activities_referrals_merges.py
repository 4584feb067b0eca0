"""The staff groups' permissions for activity types, activities, referrals and merges
(issue 17): program managers define activity types; support sees activities, referrals
and merges and may merge members."""

from django.db import migrations

GRANTS = {
    "Program manager": {
        "rewards": [
            "add_activitytype",
            "change_activitytype",
            "delete_activitytype",
            "view_activitytype",
        ]
    },
    "Support": {
        "members": ["merge_member"],
        "rewards": ["view_activity", "view_referral", "view_membermerge"],
    },
}


def grants_add(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # A migration state's app configs have no models module, which create_permissions
    # requires; the real registry's (tests call this after a flush) keep theirs.
    for app_config in apps.get_app_configs():
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = models_module or True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = models_module
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, by_app in GRANTS.items():
        group = Group.objects.filter(name=name).first()
        if group is None:
            continue
        for app_label, codenames in by_app.items():
            found = list(
                Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
            )
            missing = set(codenames) - {permission.codename for permission in found}
            if missing:
                raise RuntimeError(f"Missing permissions for {name}: {sorted(missing)}")
            group.permissions.add(*found)


def grants_remove(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, by_app in GRANTS.items():
        for group in Group.objects.filter(name=name):
            for app_label, codenames in by_app.items():
                group.permissions.remove(
                    *Permission.objects.filter(
                        content_type__app_label=app_label, codename__in=codenames
                    )
                )


class Migration(migrations.Migration):
    dependencies = [
        ("metrics", "0002_staff_groups"),
        ("members", "0004_merged_into"),
        ("rewards", "0013_activities_referrals_merges"),
    ]

    operations = [migrations.RunPython(grants_add, grants_remove)]
