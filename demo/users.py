"""The demo logins: one per role, and a second account manager. Safe to run again."""

import time
from base64 import b32decode

from django.db import transaction
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

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

# The demo logins whose role requires a second factor (TWO_FACTOR_REQUIRED_FOR) have an
# authenticator app with a known secret (base32, as apps take it): add it to an app, or print
# the code of the moment with `manage.py demo_totp <username>`. Demo only: anyone can read it.
DEMO_TOTP_SECRETS: dict[str, str] = {
    "admin": "ADMINDEMOTOTPSECRETADMINDEMOTOTP",
    "finance": "FINANCEDEMOTOTPSECRETFINANCEDEMO",
}
DEMO_AUTHENTICATOR_NAME = "Demo authenticator app"
TOTP_STEP_SECONDS = 30


def demo_totp_code(username: str, *, at: float | None = None) -> tuple[str, int]:
    """The code a demo login's authenticator app shows at `at` (now by default), and the
    seconds it stays valid."""
    moment = time.time() if at is None else at
    totp = TOTP(b32decode(DEMO_TOTP_SECRETS[username]), step=TOTP_STEP_SECONDS, digits=6)
    totp.time = moment
    return f"{totp.token():06d}", TOTP_STEP_SECONDS - int(moment) % TOTP_STEP_SECONDS


def demo_authenticators_ensure(users: list[User]) -> None:
    """Each demo login in DEMO_TOTP_SECRETS has its demo authenticator app, confirmed and not
    throttled (again, if it was replaced; an app set up since works too)."""
    for user in users:
        secret = DEMO_TOTP_SECRETS.get(user.username)
        if secret is None:
            continue
        TOTPDevice.objects.update_or_create(
            user=user,
            name=DEMO_AUTHENTICATOR_NAME,
            defaults={
                "key": b32decode(secret).hex(),
                "confirmed": True,
                "throttling_failure_count": 0,
                "throttling_failure_timestamp": None,
            },
        )


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
    demo_authenticators_ensure(users)
    return users
