from django.apps import AppConfig


class BillingConfig(AppConfig):
    """One Django app (its models keep the `billing` label and tables) made of one package per
    domain: catalog, tax, contracts, usage, invoices. This is where they are wired together."""

    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        # Celery finds an app's tasks in `<app>.tasks`; billing's live in its packages, and
        # every process (web, worker, beat) must know them all.
        from backoffice.home import home_figures, navigation
        from billing.catalog.models import CatalogItem
        from billing.contracts import tasks as contract_tasks  # noqa: F401
        from billing.contracts.home import contract_home_figures
        from billing.contracts.hooks import contract_changed
        from billing.contracts.line_resources import ContractLineResource
        from billing.contracts.models import Contract
        from billing.contracts.resources import ContractResource
        from billing.invoices import tasks as invoice_tasks  # noqa: F401
        from billing.invoices.credit_notes import credit_notes_seen
        from billing.invoices.home import invoice_review_home_figures
        from billing.invoices.models import CreditNote, InvoiceApprovalLimit, InvoiceReview
        from billing.invoices.services import contract_changed_drafts_review, invoices_written
        from billing.tax import tasks as tax_tasks  # noqa: F401
        from billing.tax.home import tax_home_figures
        from billing.tax.models import TaxRate, TaxRule
        from billing.tax.services import tax_rates_adopt
        from billing.usage import tasks as usage_tasks  # noqa: F401
        from billing.usage.models import UsageQuantity
        from billing.usage.resources import UsageResource
        from billing.usage.services import usage_meter_errors
        from file_imports.registry import resource_register
        from stripe_sync.hooks import (
            credit_notes_mirrored,
            invoices_mirrored,
            meter_errors_reported,
            tax_rates_mirrored,
        )

        # What billing takes from the Stripe mirror.
        invoices_mirrored.subscribe(invoices_written)
        tax_rates_mirrored.subscribe(tax_rates_adopt)
        meter_errors_reported.subscribe(usage_meter_errors)
        credit_notes_mirrored.subscribe(credit_notes_seen)
        # A changed contract changes what its customer's drafts should say.
        contract_changed.subscribe(contract_changed_drafts_review)
        # The files billing imports from the command line (the admin's lists name their own).
        resource_register(ContractResource, ContractLineResource, UsageResource)
        # The home page's figures, and billing's sections of the navigation: the work first.
        home_figures.register(invoice_review_home_figures, contract_home_figures, tax_home_figures)
        navigation.section(
            "Invoice review", InvoiceReview, CreditNote, InvoiceApprovalLimit, order=10
        )
        navigation.section("Contracts", Contract, UsageQuantity, CatalogItem, order=20)
        navigation.section("Tax settings", TaxRate, TaxRule, order=40)
