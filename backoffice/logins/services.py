"""Setting up a second factor and checking its codes (django-otp's devices).

A person has at most one authenticator app (a TOTP device) and one set of recovery codes (a
static device of single-use codes). Every check of a code runs with the device locked, so a
code accepted once cannot be accepted twice, even by two requests at once; django-otp refuses
a TOTP code of a time step already used and, after each wrong code, makes the next attempt
wait twice as long (1 s, 2 s, 4 s...).
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django_otp.models import Device, VerifyNotAllowed
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

AUTHENTICATOR_NAME = "Authenticator app"
RECOVERY_CODES_NAME = "Recovery codes"
RECOVERY_CODE_COUNT = 10
TOTP_DIGITS = 6


def code_normalised(code: str) -> str:
    """What was typed, as the devices store it: no spaces or dashes, lower case."""
    return "".join(code.split()).replace("-", "").lower()


def is_totp_code(code: str) -> bool:
    """Six digits: an authenticator app's code; anything else is taken as a recovery code."""
    return len(code) == TOTP_DIGITS and code.isdigit()


@transaction.atomic
def authenticator_start(*, user: Any) -> TOTPDevice:
    """The authenticator app being set up (unconfirmed until a code from it is given): the same
    one on every visit, so that a QR code already scanned stays good."""
    device = TOTPDevice.objects.filter(user_id=user.pk, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=AUTHENTICATOR_NAME, confirmed=False)
    return device


@transaction.atomic
def authenticator_confirm(*, device: TOTPDevice, code: str) -> list[str] | None:
    """Confirm the authenticator app being set up with a code from it. Returns the new recovery
    codes (to be shown once), or None when the code is wrong. Any other authenticator app of the
    person is removed: one app at a time, the one just proved."""
    device = TOTPDevice.objects.select_for_update().get(pk=device.pk)
    if device.confirmed or not device.verify_token(code_normalised(code)):
        return None
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    TOTPDevice.objects.filter(user_id=device.user_id).exclude(pk=device.pk).delete()
    return recovery_codes_renew(user=device.user)


@transaction.atomic
def recovery_codes_renew(*, user: Any) -> list[str]:
    """A new set of single-use recovery codes; the previous ones stop working."""
    device, _ = StaticDevice.objects.get_or_create(
        user=user, name=RECOVERY_CODES_NAME, defaults={"confirmed": True}
    )
    StaticDevice.objects.filter(user_id=user.pk).exclude(pk=device.pk).delete()
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


def recovery_codes_left(*, user: Any) -> int:
    return StaticToken.objects.filter(device__user_id=user.pk, device__confirmed=True).count()


@dataclass(frozen=True)
class Verification:
    device: Device | None  # the device that accepted the code, if one did
    wait_until: datetime | None = None  # too many wrong codes: no code is checked before then


@transaction.atomic
def second_factor_verify(*, user: Any, code: str) -> Verification:
    """Check a code against the person's authenticator app (six digits) or their recovery
    codes (anything else; a recovery code is used up)."""
    code = code_normalised(code)
    model: type[TOTPDevice] | type[StaticDevice] = (
        TOTPDevice if is_totp_code(code) else StaticDevice
    )
    wait_until = None
    devices = model.objects.select_for_update().filter(user_id=user.pk, confirmed=True)
    for device in devices.order_by("pk"):
        allowed, details = device.verify_is_allowed()
        if not allowed:
            if details and details.get("reason") == VerifyNotAllowed.N_FAILED_ATTEMPTS:
                wait_until = details.get("locked_until")
            continue
        if device.verify_token(code):
            return Verification(device=device)
    return Verification(device=None, wait_until=wait_until)
