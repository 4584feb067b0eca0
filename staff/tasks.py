"""The CSV import as a Celery task: an id in, the service, safe to run twice (rows already
imported are skipped, a finished import is left as it is)."""

from celery import shared_task

from staff.models import CsvImport
from staff.services import csv_import_run

# Under the broker's visibility timeout (settings), or a long import would be handed to a
# second worker while the first still runs.
IMPORT_LIMITS = {"soft_time_limit": 50 * 60, "time_limit": 55 * 60}


@shared_task(acks_late=True, **IMPORT_LIMITS)
def csv_import_run_task(csv_import_id: int) -> str:
    csv_import = csv_import_run(csv_import=CsvImport.objects.get(pk=csv_import_id))
    return csv_import.status
