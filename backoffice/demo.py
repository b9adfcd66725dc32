"""Demo logins and data for `make demo`. Every function here is safe to run again."""

from django.db import transaction

from backoffice.models import User
from backoffice.roles import ACCOUNT_MANAGERS, FINANCE, roles_sync
from customers.models import Account

# username -> (first name, last name, role group or None for the superuser)
DEMO_USERS: dict[str, tuple[str, str, str | None]] = {
    "admin": ("Ada", "Admin", None),
    "finance": ("Fiona", "Finance", FINANCE),
    "manager": ("Manuel", "Manager", ACCOUNT_MANAGERS),
    # A second account manager, so that "only their own accounts" can be seen in the demo.
    "manager2": ("Maria", "Manager", ACCOUNT_MANAGERS),
}

# external_ref -> (legal name, billing country, default currency, account manager)
DEMO_ACCOUNTS: dict[str, tuple[str, str, str, str]] = {
    "CRM-0001": ("Northwind Traders Inc.", "US", "USD", "manager"),
    "CRM-0002": ("Bergmann Logistik GmbH", "DE", "EUR", "manager"),
    "CRM-0003": ("Tanaka Seimitsu K.K.", "JP", "JPY", "manager"),
    "CRM-0004": ("Thames Analytics Ltd", "GB", "GBP", "manager2"),
    "CRM-0005": ("Gulf Pearl Trading W.L.L.", "BH", "BHD", "manager2"),
    "CRM-0006": ("Maple Leaf Health Corp.", "CA", "CAD", "manager"),
    "CRM-0007": ("Southern Cross Mining Pty Ltd", "AU", "AUD", "manager2"),
    "CRM-0008": ("Lumière Médias SAS", "FR", "EUR", "manager"),
}


@transaction.atomic
def demo_users_ensure(*, password: str) -> list[User]:
    groups = roles_sync()
    users = []
    for username, (first_name, last_name, role) in DEMO_USERS.items():
        user, _ = User.objects.update_or_create(
            username=username,
            defaults={
                "first_name": first_name,
                "last_name": last_name,
                "email": f"{username}@example.com",
                "is_staff": True,
                "is_superuser": role is None,
                "is_active": True,
            },
        )
        user.set_password(password)
        user.save(update_fields=["password"])
        user.groups.set([groups[role]] if role else [])
        users.append(user)
    return users


@transaction.atomic
def demo_accounts_ensure() -> list[Account]:
    managers = {u.username: u for u in User.objects.filter(username__in=DEMO_USERS)}
    accounts = []
    for external_ref, (legal_name, country, currency, manager) in DEMO_ACCOUNTS.items():
        values = {
            "legal_name": legal_name,
            "billing_country": country,
            "default_currency": currency,
            "account_manager": managers[manager],
        }
        account = Account.objects.filter(external_ref=external_ref).first()
        if account is None:
            account = Account.objects.create(external_ref=external_ref, **values)
        elif any(getattr(account, field) != value for field, value in values.items()):
            # Saved only when it differs, so a second run adds no empty audit entries.
            for field, value in values.items():
                setattr(account, field, value)
            account.save()
        accounts.append(account)
    return accounts


def demo_data_load(*, password: str) -> None:
    from backoffice.demo_contracts import demo_contracts_ensure
    from backoffice.demo_tax import demo_tax_ensure

    users = {user.username: user for user in demo_users_ensure(password=password)}
    demo_accounts_ensure()
    demo_contracts_ensure(users, approver=users["finance"])
    demo_tax_ensure()
    from backoffice.demo_invoices import demo_invoices_ensure

    demo_invoices_ensure()
