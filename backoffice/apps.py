import gc

from django.apps import AppConfig
from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_migrate


class BackofficeConfig(AppConfig):
    default = True
    name = "backoffice"
    verbose_name = "Back-office"

    def ready(self) -> None:
        from backoffice.logins.sessions import session_started_on_login
        from backoffice.roles import roles_sync_after_migrate

        _, older, oldest = gc.get_threshold()
        gc.set_threshold(settings.GC_GENERATION0_THRESHOLD, older, oldest)

        # Every `migrate` brings the role groups in line with backoffice/roles.py.
        post_migrate.connect(roles_sync_after_migrate, sender=self)

        # Changes no person made are signed by a system actor (backoffice/history.py): its
        # users made by every `migrate`, the rows of jobs and of the Stripe sync signed.
        from celery.signals import task_postrun, task_prerun
        from simple_history.signals import pre_create_historical_record

        from backoffice.history import (
            history_actor_fill,
            job_ended,
            job_started,
            system_users_after_migrate,
        )

        post_migrate.connect(system_users_after_migrate, sender=self)
        pre_create_historical_record.connect(history_actor_fill, dispatch_uid="history_actor")
        task_prerun.connect(job_started, dispatch_uid="history_job_started")
        task_postrun.connect(job_ended, dispatch_uid="history_job_ended")

        # Each sign-in starts the session's clock (idle and absolute end, backoffice/logins/).
        user_logged_in.connect(session_started_on_login, dispatch_uid="logins_session_start")
        import backoffice.logins.checks  # noqa: F401  (registers the check of its settings)
