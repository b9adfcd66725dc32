from django.db.models import QuerySet

from backoffice.models import User
from customers.models import Account
from stripe_sync.selectors import PUSH_FAILING

VIEW_ALL_ACCOUNTS = "customers.view_all_accounts"


def accounts_visible_to(user: User) -> QuerySet[Account]:
    """Every account for finance; an account manager's own accounts for them."""
    if user.has_perm(VIEW_ALL_ACCOUNTS):
        return Account.objects.all()
    return Account.objects.filter(account_manager=user)


def account_visible_to(user: User, account: Account) -> bool:
    return user.has_perm(VIEW_ALL_ACCOUNTS) or account.account_manager_id == user.pk


def accounts_push_failing(accounts: QuerySet[Account]) -> QuerySet[Account]:
    """Accounts whose customer Stripe refused, or that wait for Stripe to answer again."""
    return accounts.filter(stripe_push_status__in=PUSH_FAILING)
