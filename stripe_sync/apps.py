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
        "lives only in STRIPE_SECRET_KEY; sync through stripe_sync, not dj-stripe's "
        "sync_from_stripe_data."
    )


class StripeSyncConfig(AppConfig):
    name = "stripe_sync"
    verbose_name = "Stripe sync"

    def ready(self) -> None:
        from djstripe.models import APIKey

        from backoffice.home import home_figures, navigation
        from stripe_sync.client import configure_stripe, reconfigure_on_setting_change
        from stripe_sync.home import stripe_sync_home_figures
        from stripe_sync.models import OutboxTask, StripeEvent, SyncStatus

        configure_stripe()
        setting_changed.connect(reconfigure_on_setting_change)
        pre_save.connect(
            refuse_storing_stripe_keys, sender=APIKey, dispatch_uid="refuse_storing_stripe_keys"
        )
        home_figures.register(stripe_sync_home_figures)
        # After the work of billing and customers (Invoice review 10 ... Tax settings 40).
        navigation.section("Stripe sync", StripeEvent, SyncStatus, OutboxTask, order=50)
