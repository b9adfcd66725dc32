from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    """How customers pay: payment methods and mandates, the Radar queue, collections, disputes
    and acceptance rates, over the Stripe mirror."""

    name = "payments"
    verbose_name = "Payments"
