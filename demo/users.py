"""The demo logins: one per role, and a second account manager. Safe to run again."""

from django.db import transaction

from backoffice.models import User
from backoffice.roles import ACCOUNT_MANAGERS, FINANCE, roles_sync

# username -> (first name, last name, role group or None for the superuser)
DEMO_USERS: dict[str, tuple[str, str, str | None]] = {
    "admin": ("Ada", "Admin", None),
    "finance": ("Fiona", "Finance", FINANCE),
    "manager": ("Manuel", "Manager", ACCOUNT_MANAGERS),
    # A second account manager, so that "only their own accounts" can be seen in the demo.
    "manager2": ("Maria", "Manager", ACCOUNT_MANAGERS),
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
