"""The one place that points stripe-python (and so dj-stripe) at a Stripe server."""

from typing import Any

import stripe
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

STRIPE_DEFAULT_API_BASE = "https://api.stripe.com"
_STRIPE_SETTINGS = {"STRIPE_API_BASE", "STRIPE_API_VERSION", "STRIPE_SECRET_KEY"}


def configure_stripe() -> None:
    # dj-stripe calls stripe-python's module-level API, so the module globals are what count.
    stripe.api_base = settings.STRIPE_API_BASE or STRIPE_DEFAULT_API_BASE
    stripe.api_version = settings.STRIPE_API_VERSION


def reconfigure_on_setting_change(*, setting: str, **kwargs: Any) -> None:
    if setting in _STRIPE_SETTINGS:
        configure_stripe()


def stripe_secret_key() -> str:
    key: str = settings.STRIPE_SECRET_KEY
    if not key:
        raise ImproperlyConfigured(
            "No Stripe secret key: set STRIPE_SECRET_KEY in the environment (README: "
            "'Connecting a Stripe account')."
        )
    return key
