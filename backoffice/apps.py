import gc

from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_migrate


class BackofficeConfig(AppConfig):
    default = True
    name = "backoffice"
    verbose_name = "Back-office"

    def ready(self) -> None:
        from backoffice.roles import roles_sync_after_migrate

        _, older, oldest = gc.get_threshold()
        gc.set_threshold(settings.GC_GENERATION0_THRESHOLD, older, oldest)

        # Every `migrate` brings the role groups in line with backoffice/roles.py.
        post_migrate.connect(roles_sync_after_migrate, sender=self)
