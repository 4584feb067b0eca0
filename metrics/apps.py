from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "metrics"
    verbose_name = "Metrics"

    def ready(self):
        from members.personal_data import personal_data_register
        from metrics.gdpr import member_feedback_erase, member_feedback_export
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
