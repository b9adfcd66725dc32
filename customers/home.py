"""What customers put on the home page (backoffice/home.py): accounts Stripe refused or is
retrying, for finance. Registered in customers/apps.py."""

from collections.abc import Iterable

from django.http import HttpRequest

from backoffice.home import Figure, may_open
from customers.models import Account
from customers.selectors import VIEW_ALL_ACCOUNTS, accounts_push_failing
from stripe_sync.selectors import PUSH_FAILING


def account_home_figures(request: HttpRequest) -> Iterable[Figure]:
    # The Stripe sync is finance's to watch; a manager sees the status on their accounts.
    if not (may_open(request, Account) and request.user.has_perm(VIEW_ALL_ACCOUNTS)):
        return []
    return [
        Figure(
            "Stripe sync",
            "Accounts Stripe refused or is retrying",
            accounts_push_failing(Account.objects.all()).count(),
            Account,
            {"stripe_push_status__in": ",".join(PUSH_FAILING)},
        )
    ]
