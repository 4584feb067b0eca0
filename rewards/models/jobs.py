"""Runs of the nightly jobs, with their as-of time and progress."""

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class JobRun(models.Model):
    """One run of a nightly job (rewards/jobs.py) for one as-of time: its progress while it
    runs and its totals once every chunk is done. Written only by rewards.services.nightly."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        # Its worker or process died: no chunk finished for JOB_RUN_STALE_AFTER_SECONDS.
        INTERRUPTED = "interrupted", _("Interrupted")

    class Via(models.TextChoices):
        CELERY = "celery", _("Celery workers")
        COMMAND = "command", _("manage.py run_nightly")

    job = models.CharField(verbose_name=_("job"), max_length=32)
    as_of = models.DateTimeField(
        verbose_name=_("as of"), help_text=_("The moment the job brought the members up to.")
    )
    via = models.CharField(verbose_name=_("via"), max_length=8, choices=Via)
    status = models.CharField(
        verbose_name=_("status"), max_length=16, choices=Status, default=Status.RUNNING
    )
    started_at = models.DateTimeField(verbose_name=_("started at"))
    finished_at = models.DateTimeField(verbose_name=_("finished at"), null=True, blank=True)
    progressed_at = models.DateTimeField(
        verbose_name=_("progressed at"),
        null=True,
        blank=True,
        help_text=_("When the run last showed progress: its start, then each chunk finished."),
    )
    chunk_size = models.PositiveIntegerField(verbose_name=_("chunk size"))
    chunks_total = models.PositiveIntegerField(verbose_name=_("chunks total"), default=0)
    chunks_done = models.PositiveIntegerField(verbose_name=_("chunks done"), default=0)
    items_processed = models.BigIntegerField(
        verbose_name=_("items processed"),
        default=0,
        help_text=_("Members (or other items) the job changed."),
    )
    totals = models.JSONField(
        verbose_name=_("totals"), default=dict, blank=True, help_text=_("The job's own counts.")
    )
    error = models.TextField(verbose_name=_("error"), blank=True)

    class Meta:
        verbose_name = _("job run")
        verbose_name_plural = _("job runs")
        indexes = [models.Index(fields=["job", "-started_at"], name="jobrun_job_newest")]
        constraints = [
            models.CheckConstraint(
                condition=Q(chunks_done__lte=F("chunks_total")), name="jobrun_chunks_within_total"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.job} as of {self.as_of:%Y-%m-%d %H:%M}"
