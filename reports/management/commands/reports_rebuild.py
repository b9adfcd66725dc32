from typing import Any

from django.core.management.base import BaseCommand

from reports.ledger import billed_ledger_rebuild


class Command(BaseCommand):
    help = (
        "Rebuild the reports' ledger (finalized invoices and their lines) from the Stripe "
        "mirror. The reports read the same figures after it as before."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        written = billed_ledger_rebuild()
        self.stdout.write(f"Rebuilt the reports' ledger: {written} finalized invoice(s).")
