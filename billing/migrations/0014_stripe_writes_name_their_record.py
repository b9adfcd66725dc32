"""Each write to Stripe about a billing record names it (stripe_sync's 0002): the invoice
review of an invoice's hold, finalize, void...; the tax rate; the catalog item's product; the
contract's prices and schedule. Worked out from the idempotency keys our pushes use and from
the old contract link; nothing else changes. The reverse puts the old links back."""

import re

from django.db import migrations
from django.db.models import F

INVOICE_KEY = re.compile(r"^invoice-(?P<invoice>[^-]+)-")
RECORD_KEY = re.compile(r"^(?P<kind>tax-rate|catalog-item)-(?P<pk>\d+)-")
MODEL_OF_KIND = {"tax-rate": "taxrate", "catalog-item": "catalogitem"}


def content_type(apps, model):
    ContentType = apps.get_model("contenttypes", "ContentType")
    return ContentType.objects.get_or_create(app_label="billing", model=model)[0]


def name_records(apps, schema_editor):
    StripeWrite = apps.get_model("stripe_sync", "StripeWrite")
    InvoiceReview = apps.get_model("billing", "InvoiceReview")
    for write in StripeWrite.objects.filter(record_type__isnull=True).iterator():
        model, pk = None, None
        if match := INVOICE_KEY.match(write.idempotency_key):
            review = InvoiceReview.objects.filter(stripe_invoice_id=match["invoice"]).first()
            if review is not None:
                model, pk = "invoicereview", review.pk
        elif match := RECORD_KEY.match(write.idempotency_key):
            model, pk = MODEL_OF_KIND[match["kind"]], int(match["pk"])
        elif write.contract_id:
            model, pk = "contract", write.contract_id
        if model is not None:
            write.record_type, write.record_id = content_type(apps, model), pk
            write.save(update_fields=["record_type", "record_id"])


def restore_links(apps, schema_editor):
    StripeWrite = apps.get_model("stripe_sync", "StripeWrite")
    InvoiceReview = apps.get_model("billing", "InvoiceReview")
    contract, review = content_type(apps, "contract"), content_type(apps, "invoicereview")
    StripeWrite.objects.filter(record_type=contract).update(contract_id=F("record_id"))
    for write in StripeWrite.objects.filter(record_type=review).iterator():
        found = InvoiceReview.objects.filter(pk=write.record_id).first()
        if found is not None:
            write.account_id, write.contract_id = found.account_id, found.contract_id
            write.save(update_fields=["account_id", "contract_id"])


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0013_stripe_models_to_stripe_sync"),
        ("stripe_sync", "0002_stripe_write_record"),
    ]

    operations = [migrations.RunPython(name_records, restore_links)]
