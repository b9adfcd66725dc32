"""Who must give a second factor, and where a signed-in person stands with it.

A person with an authenticator app is always asked for its code after the password, whatever
their role. One without is made to set one up first when `settings.TWO_FACTOR_REQUIRED_FOR`
names them: "superusers", "staff" (every login), or a permission ("billing.approve_invoice":
whoever holds it, through a role or granted alone). By default: superusers and whoever
approves contracts or approves and finalizes invoices (the Finance role).
"""

from enum import Enum
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django_otp.plugins.otp_totp.models import TOTPDevice

SUPERUSERS = "superusers"
STAFF = "staff"


class SecondFactor(Enum):
    VERIFIED = "verified"  # the code was given in this session
    NOT_NEEDED = "not needed"  # no authenticator app, and no role that requires one
    CODE_NEEDED = "code needed"  # has an authenticator app: its code, before anything else
    ENROLMENT_NEEDED = "enrolment needed"  # must set up an authenticator app first


def second_factor_required(user: Any) -> bool:
    """Whether `user` may not work without a second factor (`TWO_FACTOR_REQUIRED_FOR`)."""
    if not user.is_authenticated:
        return False
    for entry in settings.TWO_FACTOR_REQUIRED_FOR:
        if entry == STAFF and user.is_staff:
            return True
        if entry == SUPERUSERS and user.is_superuser:
            return True
        if "." in entry and user.has_perm(entry):
            return True
    return False


def has_authenticator(user: Any) -> bool:
    """A confirmed authenticator app (recovery codes alone do not count: they back one up)."""
    return TOTPDevice.objects.filter(user_id=user.pk, confirmed=True).exists()


def is_verified(request: HttpRequest) -> bool:
    """Whether this session gave a code (django-otp's OTPMiddleware says so on the user; a
    request that did not go through it is not verified)."""
    verified = getattr(request.user, "is_verified", None)
    return bool(verified is not None and verified())


def second_factor_state(request: HttpRequest) -> SecondFactor:
    """Where the signed-in person of `request` stands; read once a request (the middleware and
    the admin site both ask)."""
    cached: SecondFactor | None = getattr(request, "_second_factor_state", None)
    if cached is not None:
        return cached
    user = request.user
    if is_verified(request):
        state = SecondFactor.VERIFIED
    elif has_authenticator(user):
        state = SecondFactor.CODE_NEEDED
    elif second_factor_required(user):
        state = SecondFactor.ENROLMENT_NEEDED
    else:
        state = SecondFactor.NOT_NEEDED
    request._second_factor_state = state  # type: ignore[attr-defined]
    return state


def second_factor_satisfied(request: HttpRequest) -> bool:
    """The signed-in person may use the back-office: verified, or not asked for a code."""
    return second_factor_state(request) in (SecondFactor.VERIFIED, SecondFactor.NOT_NEEDED)
