import django.db.models.deletion
from django.db import migrations, models


def segment_snapshots_link(apps, schema_editor):
    """Name the segment of the snapshots already written (their group_key says it); those
    of segments since deleted go, as a deleted segment's snapshots would now."""
    KpiSnapshot = apps.get_model("metrics", "KpiSnapshot")
    Segment = apps.get_model("members", "Segment")
    existing = set(Segment.objects.values_list("pk", flat=True))
    orphans = []
    for pk, group_key in KpiSnapshot.objects.filter(breakdown="segment").values_list(
        "pk", "group_key"
    ):
        segment_id = int(group_key.removeprefix("segment:"))
        if segment_id in existing:
            KpiSnapshot.objects.filter(pk=pk).update(segment_id=segment_id)
        else:
            orphans.append(pk)
    KpiSnapshot.objects.filter(pk__in=orphans).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0005_segments"),
        ("metrics", "0004_predictions"),
    ]

    operations = [
        migrations.AddField(
            model_name="kpisnapshot",
            name="segment",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="members.segment",
            ),
        ),
        migrations.RunPython(segment_snapshots_link, migrations.RunPython.noop),
    ]
