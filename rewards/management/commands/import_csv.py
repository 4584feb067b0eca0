from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from rewards.models import CsvImport
from rewards.services.imports import csv_import_create, csv_import_run


class Command(BaseCommand):
    help = (
        "Import members or historical purchases from a CSV file (UTF-8, header row), as the "
        "admin's import does: every row is checked first and a file with any row in error "
        "imports nothing; rows imported before are skipped, so running it twice changes "
        "nothing. Members: external_id[, email, name, birth_date, enrolled_at]. Purchases: "
        "shop, order_id, member_external_id, amount, occurred_at[, currency, category, sku]."
    )

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=[kind.value for kind in CsvImport.Kind])
        parser.add_argument("file", type=Path)
        parser.add_argument("--no-progress", action="store_true", help="No progress bars.")

    def handle(self, *args, kind, file, no_progress, **options):
        if not file.is_file():
            raise CommandError(f"No such file: {file}")
        csv_import = csv_import_create(kind=kind, file_name=file.name, run_in_background=False)
        bars: dict[str, tqdm] = {}

        def progress(phase: str, done: int, total: int) -> None:
            if no_progress:
                return
            if phase not in bars:
                label = "Checking" if phase == "check" else "Importing"
                bars[phase] = tqdm(total=total, desc=label, unit="row", file=self.stderr)
            bar = bars[phase]
            bar.update(done - bar.n)

        try:
            csv_import = csv_import_run(
                csv_import=csv_import,
                open_file=lambda: file.open(encoding="utf-8-sig", newline=""),
                on_progress=progress,
            )
        finally:
            for bar in bars.values():
                bar.close()
        if csv_import.status == CsvImport.Status.REJECTED:
            for error in csv_import.errors:
                field = f" {error['field']}" if error["field"] else ""
                self.stderr.write(f"line {error['line']}{field}: {error['message']}")
            more = csv_import.error_count - len(csv_import.errors)
            if more > 0:
                self.stderr.write(f"... and {more} more rows in error.")
            raise CommandError(
                f"{csv_import.error_count} problems in {file.name}: nothing was imported. "
                "Fix the rows above and run the import again."
            )
        self.stdout.write(
            f"Imported {csv_import.kind} from {file.name}: {csv_import.rows_total} rows, "
            f"{csv_import.created_count} added, {csv_import.unchanged_count} already there "
            "(left as they were)."
        )
