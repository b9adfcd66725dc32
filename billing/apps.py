from typing import Any

from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db.models.signals import pre_save


class SecretKeyStorageRefused(ImproperlyConfigured):
    pass


def refuse_storing_stripe_keys(*, instance: Any, **kwargs: Any) -> None:
    """dj-stripe stores the secret key in plaintext in its APIKey table the first time one of
    its own sync paths runs. The key lives only in the environment: refuse the row."""
    raise SecretKeyStorageRefused(
        "Refused to store a Stripe API key in the database (dj-stripe's APIKey table). The key "
        "lives only in STRIPE_SECRET_KEY; sync through billing.sync, not dj-stripe's "
        "sync_from_stripe_data."
    )


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from djstripe.models import APIKey

        from billing.stripe_api import configure_stripe, reconfigure_on_setting_change

        configure_stripe()
        setting_changed.connect(reconfigure_on_setting_change)
        pre_save.connect(
            refuse_storing_stripe_keys, sender=APIKey, dispatch_uid="refuse_storing_stripe_keys"
        )
