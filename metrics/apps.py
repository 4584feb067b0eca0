from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "metrics"
    verbose_name = "Metrics"

    def ready(self):
        from metrics.services import kpis_nightly_recompute
        from rewards.jobs import nightly_job_register

        # Runs as one chunk: the KPIs are set-based queries over all members at once.
        nightly_job_register(
            name="kpis",
            title="Recompute the KPI snapshots of the current and previous periods",
            process_chunk=kpis_nightly_recompute,
            items_label="periods recomputed",
        )
