"""ImportUpload belongs to the file_imports app now (its 0001), on the same table; its content
type follows it."""

from django.db import migrations


def content_type_to(app_from: str, app_to: str):
    def move(apps, schema_editor):
        ContentType = apps.get_model("contenttypes", "ContentType")
        if not ContentType.objects.filter(app_label=app_to, model="importupload").exists():
            ContentType.objects.filter(app_label=app_from, model="importupload").update(
                app_label=app_to
            )

    return move


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0014_stripe_writes_name_their_record"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("file_imports", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="ImportUpload")],
            database_operations=[],
        ),
        migrations.RunPython(
            content_type_to("billing", "file_imports"), content_type_to("file_imports", "billing")
        ),
    ]
