from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = "Reports"

    def ready(self) -> None:
        from backoffice.home import navigation
        from billing.contracts.hooks import contract_changed
        from reports import tasks  # noqa: F401  (every process knows the tasks)
        from reports.hooks import (
            contract_changed_to_contracted_months,
            contract_changed_to_ledger,
            credit_notes_to_ledger,
            invoices_mirrored_to_ledger,
        )
        from reports.models import QueryRun, Report, SavedQuery
        from stripe_sync.hooks import credit_notes_mirrored, invoices_mirrored

        invoices_mirrored.subscribe(invoices_mirrored_to_ledger)
        credit_notes_mirrored.subscribe(credit_notes_to_ledger)
        contract_changed.subscribe(contract_changed_to_ledger)
        contract_changed.subscribe(contract_changed_to_contracted_months)
        # After the work (review, contracts, accounts, tax settings).
        navigation.section("Reports", Report, SavedQuery, QueryRun, order=50)
