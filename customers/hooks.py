"""What happens to accounts that higher folders follow without customers importing them."""

from backoffice.hooks import Hook
from customers.models import Account

# Sent in the transaction that saved the change (the account page, the accounts import);
# payments sets the new methods on the account's subscriptions and draft invoices.
account_payment_methods_changed: Hook[Account] = Hook(
    "an account's accepted payment methods changed"
)
