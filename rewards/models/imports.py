"""CSV imports of members and historical purchases."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class CsvImport(models.Model):
    """One import of a CSV file of members or historical purchases, with its progress and
    its report. Written only by rewards.services.imports."""

    class Kind(models.TextChoices):
        MEMBERS = "members", _("Members")
        PURCHASES = "purchases", _("Historical purchases")

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting to run")
        VALIDATING = "validating", _("Checking every row")
        APPLYING = "applying", _("Importing")
        SUCCEEDED = "succeeded", _("Imported")
        REJECTED = "rejected", _("Rejected: rows in error, nothing imported")
        FAILED = "failed", _("Stopped by an error")

    FINISHED = (Status.SUCCEEDED, Status.REJECTED, Status.FAILED)

    kind = models.CharField(verbose_name=_("kind"), max_length=16, choices=Kind)
    file_name = models.CharField(verbose_name=_("file name"), max_length=255)
    # The uploaded file, kept for the worker that runs the import (None for a file that
    # `manage.py import_csv` read from disk).
    content = models.BinaryField(verbose_name=_("content"), null=True, editable=False)
    status = models.CharField(
        verbose_name=_("status"), max_length=16, choices=Status, default=Status.PENDING
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
    )
    created_at = models.DateTimeField(verbose_name=_("created at"))
    started_at = models.DateTimeField(verbose_name=_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(verbose_name=_("finished at"), null=True, blank=True)
    rows_total = models.PositiveIntegerField(
        verbose_name=_("rows total"), default=0, help_text=_("Data rows in the file.")
    )
    rows_checked = models.PositiveIntegerField(verbose_name=_("rows checked"), default=0)
    rows_done = models.PositiveIntegerField(
        verbose_name=_("rows done"), default=0, help_text=_("Rows imported or skipped.")
    )
    created_count = models.PositiveIntegerField(
        verbose_name=_("created count"), default=0, help_text=_("Members or purchases added.")
    )
    unchanged_count = models.PositiveIntegerField(
        verbose_name=_("unchanged count"),
        default=0,
        help_text=_("Rows already imported before: left as they are."),
    )
    error_count = models.PositiveIntegerField(verbose_name=_("error count"), default=0)
    errors = models.JSONField(
        verbose_name=_("errors"),
        default=list,
        blank=True,
        help_text=_("The first rows in error: line, field, message."),
    )
    failure = models.TextField(verbose_name=_("failure"), blank=True)

    class Meta:
        verbose_name_plural = _("CSV imports")
        verbose_name = _("CSV import")
        indexes = [models.Index(fields=["-created_at"], name="csv_import_newest")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} from {self.file_name}"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def percent_done(self) -> int:
        if self.status == self.Status.SUCCEEDED:
            return 100
        if not self.rows_total:
            return 0
        # Checking is the first half of the work, importing the second.
        return int(50 * (self.rows_checked + self.rows_done) / self.rows_total)
