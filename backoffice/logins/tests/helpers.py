"""Signing in from tests: through the real forms, with the code an authenticator app would show."""

import time
from typing import Any

from django.test import Client
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from backoffice.logins.policy import second_factor_required

LOGIN = reverse("admin:login")
VERIFY = reverse("logins:verify")
ENROL = reverse("logins:enrol")


def second_factor_device_for_tests(user: Any) -> TOTPDevice | None:
    """The authenticator app the test client's logins give the code of (conftest.py): the
    person's own, or a new one when their role requires one; None for a person who has none and
    needs none (they sign in with the password alone)."""
    device = TOTPDevice.objects.filter(user_id=user.pk, confirmed=True).order_by("pk").first()
    if device is None and second_factor_required(user):
        device = TOTPDevice.objects.create(user=user, name="Test client", confirmed=True)
    return device


def totp_code(device: TOTPDevice) -> str:
    """The code of `device` an app shows now, or the next one when the present one was already
    used (django-otp refuses a time step twice and accepts the next one: clocks drift); waits
    for the next step when even that one was used."""
    device.refresh_from_db()
    while True:
        moment = time.time()
        totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
        totp.time = moment
        now = totp.t()
        step = max(now, device.last_t + 1)
        if step <= now + device.tolerance:
            totp.time = moment + device.step * (step - now)
            return f"{totp.token():0{device.digits}d}"
        time.sleep(1)


def totp_device(user: Any, key: str | None = None) -> TOTPDevice:
    """A confirmed authenticator app for `user` (a known key, hex, if given)."""
    fields = {"key": key} if key else {}
    return TOTPDevice.objects.create(user=user, name="Phone", confirmed=True, **fields)


def password_step(client: Client, username: str, password: str, next_url: str = "/admin/") -> Any:
    """The login form, as a person sends it (no code yet)."""
    return client.post(f"{LOGIN}?next={next_url}", {"username": username, "password": password})


def log_in(client: Client, username: str, password: str, next_url: str = "/admin/") -> None:
    """Through the login form and, when asked for it, the code of the person's authenticator
    app (the demo's own, or any other they have): what a person does."""
    response = password_step(client, username, password, next_url)
    assert response.status_code == 302, f"login as {username!r} was refused"
    response = client.get(response["Location"])
    if response.status_code == 302 and response["Location"].startswith(VERIFY):
        device = TOTPDevice.objects.get(user__username=username, confirmed=True)
        response = client.post(response["Location"], {"code": totp_code(device)})
        assert response.status_code == 302, f"the code of {username!r} was refused"
        assert not response["Location"].startswith(VERIFY)
