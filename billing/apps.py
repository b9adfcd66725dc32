from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from billing.imports.contract_lines import ContractLineResource
        from billing.imports.contracts import ContractResource
        from billing.imports.usage import UsageResource
        from billing.services.invoice_review import invoices_written
        from billing.services.tax import tax_rates_adopt
        from file_imports.registry import resource_register
        from stripe_sync.hooks import invoices_mirrored, tax_rates_mirrored

        # What billing takes from the Stripe mirror.
        invoices_mirrored.subscribe(invoices_written)
        tax_rates_mirrored.subscribe(tax_rates_adopt)

        # The files billing imports from the command line (the admin's lists name their own).
        resource_register(ContractResource, ContractLineResource, UsageResource)
