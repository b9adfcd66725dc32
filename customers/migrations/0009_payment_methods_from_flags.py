from django.db import migrations

# The four flags as Stripe's codes, in the catalogue's order.
FLAGS = {
    "accepts_card": "card",
    "accepts_us_bank_account": "us_bank_account",
    "accepts_sepa_debit": "sepa_debit",
    "accepts_bank_transfer": "customer_balance",
}


def flags_to_methods(apps, schema_editor):
    Account = apps.get_model("customers", "Account")
    for account in Account.objects.only("pk", *FLAGS).iterator(chunk_size=1000):
        codes = [code for flag, code in FLAGS.items() if getattr(account, flag)]
        Account.objects.filter(pk=account.pk).update(accepted_payment_methods=codes)


def methods_to_flags(apps, schema_editor):
    Account = apps.get_model("customers", "Account")
    for account in Account.objects.only("pk", "accepted_payment_methods").iterator(chunk_size=1000):
        codes = set(account.accepted_payment_methods or [])
        Account.objects.filter(pk=account.pk).update(
            **{flag: code in codes for flag, code in FLAGS.items()}
        )


class Migration(migrations.Migration):
    """The four flags become the list of codes; the next migration drops them."""

    dependencies = [("customers", "0008_payment_methods")]

    operations = [migrations.RunPython(flags_to_methods, methods_to_flags)]
