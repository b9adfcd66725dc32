from django.apps import AppConfig
from django.db.models.signals import post_migrate


class BackofficeConfig(AppConfig):
    default = True
    name = "backoffice"
    verbose_name = "Back-office"

    def ready(self) -> None:
        from backoffice.roles import roles_sync_after_migrate

        # Every `migrate` brings the role groups in line with backoffice/roles.py.
        post_migrate.connect(roles_sync_after_migrate, sender=self)
