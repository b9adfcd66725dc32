"""Large files imported in the background: the admin's preview and confirm of a file of more
than IMPORT_BACKGROUND_ROWS rows run in a Celery task, not in the web request.

The admin stores the upload as for any preview (file_imports.storage) and starts a job
(`import_job_start`); the task (`import_job_run`) reads and checks the file through the same
engine as the request would (`run_import`: the library's format, the resource's import_data),
telling its progress (rows read, rows checked of all, writing) on the job, and keeps the
report as the page shows it. The job's page (file_imports.admin) refreshes itself until the
job is done, then shows the preview table and the confirm, signed as in the request; the
confirm is a second job (`import_job_confirm`), one per stored file, which takes the file's
confirm lock as the request's confirm does. In the embedded default (SQLite, Celery eager) the
task runs in the request once it commits, and the page shows its outcome at once.
"""

import logging
import time
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone
from import_export.signals import post_import

from file_imports.engine import ImportOptions, ImportReport, file_format_class, run_import
from file_imports.models import ImportJob
from file_imports.registry import resources
from file_imports.storage import ImportFileStorage, confirm_lock
from stripe_sync.outbox import enqueue

logger = logging.getLogger(__name__)


def background_rows() -> int:
    return int(getattr(settings, "IMPORT_BACKGROUND_ROWS", 5_000))


def import_job_start(
    *,
    user: Any,
    model: str,
    resource: str,
    stored_file: str,
    file_name: str,
    file_format: str,
    date_format: str,
    rows_total: int,
) -> ImportJob:
    """The preview of a stored file, queued. The task is sent once the transaction commits,
    through the outbox (stripe_sync.outbox): a broker that is down delays it, never loses it."""
    from file_imports.tasks import import_job_run_task

    with transaction.atomic():
        job = ImportJob.objects.create(
            user=user,
            model=model,
            resource=resource,
            step=ImportJob.Step.PREVIEW,
            stored_file=stored_file,
            file_name=file_name,
            file_format=file_format,
            date_format=date_format,
            rows_total=rows_total,
        )
        enqueue(import_job_run_task, job.pk)
    return job


def import_job_confirm(*, preview: ImportJob) -> ImportJob:
    """The confirm of a previewed file, queued once: a second confirm (a double click, two
    tabs) gets the first's job."""
    from file_imports.tasks import import_job_run_task

    report = ImportReport.from_dict(preview.report) if preview.report else None
    with transaction.atomic():
        job, created = ImportJob.objects.get_or_create(
            stored_file=preview.stored_file,
            step=ImportJob.Step.CONFIRM,
            defaults={
                "user": preview.user,
                "model": preview.model,
                "resource": preview.resource,
                "file_name": preview.file_name,
                "file_format": preview.file_format,
                "date_format": preview.date_format,
                "rows_total": report.row_count if report else preview.rows_total,
            },
        )
        if created:
            enqueue(import_job_run_task, job.pk)
    return job


def import_job_run(*, job_id: int) -> ImportJob:
    """Run a job's preview or confirm; safe to run twice (a job done is left as it is; a job
    whose worker died is run again: its confirm's transaction was undone)."""
    job = ImportJob.objects.select_related("user").get(pk=job_id)
    if job.finished:
        return job
    job.status, job.started_at = ImportJob.Status.RUNNING, timezone.now()
    job.save(update_fields=["status", "started_at"])
    progress = JobProgress(job.pk)
    stored = ImportFileStorage(name=job.stored_file, read_mode="rb")
    confirming = job.step == ImportJob.Step.CONFIRM
    try:
        if confirming:
            with transaction.atomic():
                confirm_lock(job.stored_file)
                report = _run(job, stored.read(), progress, dry_run=False)
                stored.remove()  # as the library's confirm does, imported or refused
        else:
            report = _run(job, stored.read(), progress, dry_run=True)
            if not report.ok:
                stored.remove()  # a refused file is not kept: it cannot be confirmed
    except FileNotFoundError:
        return _failed(
            job,
            "That file is no longer waiting for its confirmation (imported already, or "
            "previewed more than a day ago): nothing was imported now. Upload it again.",
        )
    except PermissionDenied as error:
        return _failed(job, f"{error} Nothing was imported.")
    except Exception as error:  # the job must say it stopped; the log has the traceback
        logger.exception("Import job %s stopped", job.pk)
        return _failed(
            job,
            f"The import stopped with an error ({type(error).__name__}): nothing was imported. "
            "Try again; if it happens again, tell an administrator.",
        )
    finally:
        progress.close()
    job.report = report.as_dict()
    job.status, job.finished_at = ImportJob.Status.DONE, timezone.now()
    job.stage, job.rows_done = "", report.row_count
    job.rows_total = report.row_count
    job.save(update_fields=["report", "status", "finished_at", "stage", "rows_done", "rows_total"])
    if report.applied:
        post_import.send(sender=None, model=apps.get_model(job.model))
    return job


def _run(job: ImportJob, data: bytes, progress: "JobProgress", *, dry_run: bool) -> ImportReport:
    return run_import(
        resources()[job.resource],
        data,
        user=job.user,
        filename=job.file_name,
        dry_run=dry_run,
        options=ImportOptions(date_format=job.date_format, source=job.file_name),
        file_format=file_format_class(job.file_format)(encoding="utf-8-sig"),
        progress=progress,
    )


def _failed(job: ImportJob, error: str) -> ImportJob:
    job.status, job.finished_at, job.error = ImportJob.Status.FAILED, timezone.now(), error
    job.save(update_fields=["status", "finished_at", "error"])
    return job


class JobProgress:
    """Tells a job's progress, at most once a second. The checks and the writes run inside
    the import's transaction, where an update of the job would be seen only once it commits
    (or never: a preview is rolled back); on PostgreSQL progress is written there through a
    connection of its own. SQLite has one writer at a time (and the demo runs its tasks in the
    request, where nobody watches the page): there, progress inside the transaction is not
    written."""

    EVERY = 1.0  # seconds

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        self.last = 0.0
        self.apart: BaseDatabaseWrapper | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last < self.EVERY:
            return
        self.last = now
        if not connection.in_atomic_block:
            ImportJob.objects.filter(pk=self.job_id).update(
                stage=stage, rows_done=done, rows_total=total
            )
            return
        if connection.vendor != "postgresql":
            return
        if self.apart is None:
            self.apart = connections.create_connection(DEFAULT_DB_ALIAS)
        quote = self.apart.ops.quote_name
        with self.apart.cursor() as cursor:
            cursor.execute(
                f"UPDATE {quote(ImportJob._meta.db_table)} "  # noqa: S608 - a model's table
                "SET stage = %s, rows_done = %s, rows_total = %s WHERE id = %s",
                [stage, done, total, self.job_id],
            )

    def close(self) -> None:
        if self.apart is not None:
            self.apart.close()
            self.apart = None
