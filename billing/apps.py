from django.apps import AppConfig
from django.core.signals import setting_changed


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from billing.stripe_api import configure_stripe, reconfigure_on_setting_change

        configure_stripe()
        setting_changed.connect(reconfigure_on_setting_change)
