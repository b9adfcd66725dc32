from typing import Any

from django.core.management.base import BaseCommand

from payments.acceptance import charge_outcomes_rebuild
from reports.contracted import contracted_months_rebuild
from reports.ledger import billed_ledger_rebuild


class Command(BaseCommand):
    help = (
        "Rebuild the reports' ledger (finalized invoices and their lines, and their monthly, "
        "quarterly and yearly sums) and the charges' outcomes the acceptance rates count from "
        "the Stripe mirror, and the contracted MRR per contract version and month from the "
        "contracts. The reports read the same figures after it as before."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        ledger = billed_ledger_rebuild()
        self.stdout.write(
            f"Rebuilt the reports' ledger: {ledger.invoices} finalized invoice(s), "
            f"{ledger.months} row(s) of monthly sums, {ledger.quarters} of quarterly sums and "
            f"{ledger.years} of yearly sums."
        )
        months = contracted_months_rebuild()
        self.stdout.write(
            f"Rebuilt the contracted MRR: {months} month(s) of contract versions in force."
        )
        charges = charge_outcomes_rebuild()
        self.stdout.write(f"Rebuilt the outcomes of {charges} charge(s) for the acceptance rates.")
