from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from billing.services.invoice_review import invoices_written
        from billing.services.tax import tax_rates_adopt
        from stripe_sync.hooks import invoices_mirrored, tax_rates_mirrored

        # What billing takes from the Stripe mirror.
        invoices_mirrored.subscribe(invoices_written)
        tax_rates_mirrored.subscribe(tax_rates_adopt)
