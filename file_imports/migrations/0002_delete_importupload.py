"""The upload store is gone: a file waits between its preview and its confirmation in
django-import-export's temporary storage (file_imports.storage)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("file_imports", "0001_initial"),
    ]

    operations = [
        migrations.DeleteModel(name="ImportUpload"),
    ]
