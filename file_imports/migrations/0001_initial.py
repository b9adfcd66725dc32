"""The upload waiting between an import's preview and its confirmation, moved from billing: its
table stays as it is (billing_importupload). Nothing is written to the database here."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("billing", "0014_stripe_writes_name_their_record"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ImportUpload",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("resource", models.CharField(max_length=32)),
                        ("filename", models.CharField(max_length=255)),
                        ("data", models.BinaryField()),
                        ("date_format", models.CharField(blank=True, max_length=32)),
                        ("uploaded_at", models.DateTimeField(auto_now_add=True)),
                        ("uploaded_by", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+", to=settings.AUTH_USER_MODEL)),
                    ],
                    options={"db_table": "billing_importupload", "default_permissions": ()},
                )
            ],
            database_operations=[],
        )
    ]
