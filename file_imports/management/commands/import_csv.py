"""python manage.py import_csv RESOURCE FILE [--dry-run] [--user USERNAME] [--date-format F]

The same import as the admin's (django-import-export's format for the file, by its name: CSV,
XLSX, TSV or JSON; the resource's import_data), for batch jobs: prints the per-row report and
exits non-zero when the file or any row was refused (then nothing is imported).
"""

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError

from file_imports.engine import ImportOptions, run_import
from file_imports.registry import resources


class CommandLine:
    """Who imports when no --user is given: whoever may run manage.py may do anything."""

    pk = None
    is_active = True

    def has_perm(self, perm: str) -> bool:
        return True

    def get_username(self) -> str:
        return "the command line"


class Command(BaseCommand):
    help = "Import accounts, contracts, contract lines or usage from a CSV, XLSX, TSV or JSON file."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("resource", choices=sorted(resources()))
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--dry-run", action="store_true", help="check and report, write nothing"
        )
        parser.add_argument(
            "--user",
            help="import as this user, with their permissions and in their name in the history",
        )
        parser.add_argument(
            "--date-format",
            default="",
            help="the file's date format when not ISO (YYYY-MM-DD), e.g. %%d/%%m/%%Y",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user: Any = CommandLine()
        if options["user"]:
            try:
                user = get_user_model().objects.get(username=options["user"], is_active=True)
            except get_user_model().DoesNotExist as error:
                raise CommandError(f"No active user named {options['user']!r}.") from error
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"{path} is not a file.")
        try:
            report = run_import(
                resources()[options["resource"]],
                path.read_bytes(),
                user=user,
                filename=path.name,
                dry_run=options["dry_run"],
                options=ImportOptions(date_format=options["date_format"], source=path.name),
            )
        except PermissionDenied as error:
            raise CommandError(str(error)) from error
        for line in report.lines():
            self.stdout.write(line)
        if not report.ok:
            raise CommandError(report.summary())
