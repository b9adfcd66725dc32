from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    """How customers pay: payment methods and mandates, the Radar queue, collections, disputes
    and acceptance rates, over the Stripe mirror."""

    name = "payments"
    verbose_name = "Payments"

    def ready(self) -> None:
        from backoffice.home import navigation
        from customers.payment_methods import billing_currencies_source
        from payments import collections_tasks, radar_tasks  # noqa: F401  (every process, its tasks)
        from payments.models import (
            DisputeEvidence,
            PaymentRetry,
            RadarApprovalLimit,
            RadarDecision,
            RadarQueue,
        )
        from payments.selectors import account_contract_currencies

        # An account's accepted methods must fit its contracts' currencies too.
        billing_currencies_source(account_contract_currencies)
        # After the work on invoices and contracts, before the reports.
        navigation.section(
            "Payments",
            RadarQueue,
            RadarDecision,
            RadarApprovalLimit,
            PaymentRetry,
            DisputeEvidence,
            order=45,
        )
