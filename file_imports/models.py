"""An import that runs in the background: a large file's preview or its confirm, in a Celery
task, with its progress and its outcome for the page that waits on it (file_imports.jobs)."""

from django.conf import settings
from django.db import models


class ImportJob(models.Model):
    class Step(models.TextChoices):
        PREVIEW = "preview", "Preview"
        CONFIRM = "confirm", "Confirm"

    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting for a worker"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Stopped with an error"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="import_jobs"
    )
    model = models.CharField(max_length=100, help_text="The admin's model: app_label.model_name.")
    resource = models.CharField(
        max_length=50, help_text="The kind of file, as import_csv names it."
    )
    step = models.CharField(max_length=10, choices=Step.choices)
    stored_file = models.CharField(
        max_length=255,
        help_text="The file's name in the import storage, between preview and confirm.",
    )
    file_name = models.CharField(max_length=255, help_text="The file's name as uploaded.")
    file_format = models.CharField(max_length=10, help_text="csv, xlsx, tsv or json.")
    date_format = models.CharField(max_length=20, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    stage = models.CharField(max_length=10, blank=True, help_text="reading, checking or writing.")
    rows_done = models.PositiveIntegerField(default=0)
    rows_total = models.PositiveIntegerField(default=0, help_text="At most, before it is read.")
    report = models.JSONField(null=True, blank=True, help_text="The ImportReport, as shown.")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # One preview and one confirm of a stored file: a second "Confirm the import" (a
            # double click, two tabs) finds the first's job instead of queueing another.
            models.UniqueConstraint(fields=["stored_file", "step"], name="import_job_once_a_step")
        ]

    def __str__(self) -> str:
        return f"{self.get_step_display()} of {self.file_name} ({self.get_status_display()})"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)
