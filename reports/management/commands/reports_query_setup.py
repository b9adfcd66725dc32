from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from reports.query_setup import reports_query_setup


class Command(BaseCommand):
    help = (
        "PostgreSQL: (re)create the reporting views and the role finance's own queries run as "
        "(REPORTS_QUERY_DATABASE_USER, default backoffice_reports_reader), which may select "
        "from those views and nothing else. Safe to run again; run it after every migrate."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if connection.vendor != "postgresql":
            self.stdout.write("SQLite: nothing to set up (queries run on a read-only connection).")
            return
        try:
            reader = reports_query_setup()
        except ValueError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"Reporting views re-created; role {reader} may read them and nothing else."
        )
