"""Payments' reads: an account's payment methods, mandates, charges and unpaid invoices from
the Stripe mirror, and what its accepted methods still lack."""

from billing.contracts.models import Contract
from customers.models import Account

# Contracts that bill, or will once approved: their currency is one the account is billed in.
BILLING_CONTRACTS = (
    Contract.Status.DRAFT,
    Contract.Status.PENDING_APPROVAL,
    Contract.Status.ACTIVE,
)


def account_contract_currencies(account: Account) -> set[str]:
    """The currencies of the account's contracts that bill or are about to (registered with
    customers.payment_methods in PaymentsConfig.ready, for the account's check)."""
    return set(
        Contract.objects.filter(account=account, status__in=BILLING_CONTRACTS)
        .values_list("currency", flat=True)
        .distinct()
    )
