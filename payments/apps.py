from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    """How customers pay: payment methods and mandates, the Radar queue, collections, disputes
    and acceptance rates, over the Stripe mirror."""

    name = "payments"
    verbose_name = "Payments"

    def ready(self) -> None:
        from backoffice.home import navigation
        from payments import collections_tasks, radar_tasks  # noqa: F401  (every process knows the tasks)
        from payments.models import (
            DisputeEvidence,
            PaymentRetry,
            RadarApprovalLimit,
            RadarDecision,
            RadarQueue,
        )

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
