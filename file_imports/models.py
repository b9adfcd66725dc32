"""An uploaded file between its preview and its confirmation.

Kept in the database, not in one web process's temp folder, so that the confirm may reach
another process (or server) than the preview did. Removed once imported; ones left behind
are removed after a day by whoever uploads next.
"""

from django.conf import settings
from django.db import models


class ImportUpload(models.Model):
    resource = models.CharField(max_length=32)
    filename = models.CharField(max_length=255)
    data = models.BinaryField()
    date_format = models.CharField(max_length=32, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "billing_importupload"  # the table it had in billing
        default_permissions = ()  # never edited in the admin; the import screens use it

    def __str__(self) -> str:
        return f"{self.filename} ({self.resource})"
