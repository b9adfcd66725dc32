import customers.payment_methods
from django.db import migrations, models


class Migration(migrations.Migration):
    """The account's accepted payment methods as a list of Stripe codes (filled from the four
    flags by the next migration)."""

    dependencies = [("customers", "0007_history_reasons_whole")]

    operations = [
        migrations.AddField(
            model_name="account",
            name="accepted_payment_methods",
            field=models.JSONField(
                blank=True,
                default=customers.payment_methods.default_payment_methods,
                help_text="Offered on the account's invoices; each must be offered in the account's country and every currency it is billed in.",
                verbose_name="accepted payment methods",
            ),
        ),
        migrations.AddField(
            model_name="historicalaccount",
            name="accepted_payment_methods",
            field=models.JSONField(
                blank=True,
                default=customers.payment_methods.default_payment_methods,
                help_text="Offered on the account's invoices; each must be offered in the account's country and every currency it is billed in.",
                verbose_name="accepted payment methods",
            ),
        ),
    ]
