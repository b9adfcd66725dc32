from django.db import migrations

FLAGS = ("accepts_card", "accepts_us_bank_account", "accepts_sepa_debit", "accepts_bank_transfer")


class Migration(migrations.Migration):
    """The flags, now in accepted_payment_methods."""

    dependencies = [("customers", "0009_payment_methods_from_flags")]

    operations = [
        migrations.RemoveField(model_name=model, name=flag)
        for model in ("account", "historicalaccount")
        for flag in FLAGS
    ]
