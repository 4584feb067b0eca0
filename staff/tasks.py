"""The CSV import as a Celery task: an id in, the service, safe to run twice (rows already
imported are skipped, a finished import is left as it is)."""

import time

from celery import shared_task

from staff.models import CsvImport
from staff.services import csv_import_run

# A task imports for at most this long, then hands the rest to a fresh task: well under
# the broker's visibility timeout (settings) and the hard limit below, however big the file.
WORK_SECONDS = 20 * 60
IMPORT_LIMITS = {"soft_time_limit": 40 * 60, "time_limit": 45 * 60}


@shared_task(acks_late=True, **IMPORT_LIMITS)
def csv_import_run_task(csv_import_id: int) -> str:
    csv_import = csv_import_run(
        csv_import=CsvImport.objects.get(pk=csv_import_id),
        deadline=time.monotonic() + WORK_SECONDS,
    )
    if not csv_import.is_finished:
        csv_import_run_task.delay(csv_import_id)
    return csv_import.status
