from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    """How customers pay: payment methods and mandates, the Radar queue, collections, disputes
    and acceptance rates, over the Stripe mirror."""

    name = "payments"
    verbose_name = "Payments"

    def ready(self) -> None:
        from backoffice.home import navigation
        from customers.hooks import account_payment_methods_changed
        from customers.payment_methods import billing_currencies_source
        from payments import tasks  # noqa: F401  (Celery's)
        from payments.acceptance import charges_mirrored_to_outcomes
        from payments.models import (
            DisputeEvidence,
            PaymentRetry,
            RadarApprovalLimit,
            RadarDecision,
            RadarQueue,
        )
        from payments.selectors import account_contract_currencies
        from payments.services import (
            account_payment_methods_changed_after_commit,
            subscriptions_mirrored_check,
        )
        from stripe_sync.hooks import charges_mirrored, subscriptions_mirrored

        # An account's accepted methods must fit its contracts' currencies too.
        billing_currencies_source(account_contract_currencies)
        # Accepted methods enforced: on the account's subscriptions and draft invoices.
        account_payment_methods_changed.subscribe(account_payment_methods_changed_after_commit)
        subscriptions_mirrored.subscribe(subscriptions_mirrored_check)
        # The acceptance rates' charge outcomes follow the mirror's charges.
        charges_mirrored.subscribe(charges_mirrored_to_outcomes)
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
