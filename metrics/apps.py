from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MetricsConfig(AppConfig):
    name = "metrics"
    verbose_name = _("Metrics")

    def ready(self):
        from members.personal_data import personal_data_register
        from metrics.gdpr import member_feedback_erase, member_feedback_export
        from metrics.predictions.services import predictions_nightly_fit
        from metrics.segments.services import segments_nightly_recompute
        from metrics.services import kpis_nightly_recompute

        personal_data_register(exporter=member_feedback_export, eraser=member_feedback_erase)
        from rewards.jobs import nightly_job_register

        # Runs as one chunk: the KPIs are set-based queries over all members at once.
        nightly_job_register(
            name="kpis",
            title="Recompute the KPI snapshots of the current and previous periods",
            process_chunk=kpis_nightly_recompute,
            items_label="periods recomputed",
        )
        nightly_job_register(
            name="predictions",
            title="Fit the purchase and spend models and score every member",
            process_chunk=predictions_nightly_fit,
            items_label="members scored",
        )
        nightly_job_register(
            name="segments",
            title="Recompute segment memberships",
            process_chunk=segments_nightly_recompute,
            items_label="memberships changed",
        )
