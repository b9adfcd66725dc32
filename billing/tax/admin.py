"""Tax settings: rates (as Stripe has them) and the rules that say which applies where."""

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from backoffice.admin_site import BackofficeAdmin
from billing.tax.models import TaxRate, TaxRule
from billing.tax.services import (
    FIXED_IN_STRIPE,
    tax_rate_archive,
    tax_rate_push_after_commit,
    tax_rate_replace,
)
from stripe_sync.admin import stripe_writes_table
from stripe_sync.writes import stripe_writes_of


class TaxRateForm(forms.ModelForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # 19, not the column's 19.0000.
            self.initial["percentage"] = Decimal(f"{self.instance.percentage.normalize():f}")


@admin.register(TaxRate)
class TaxRateAdmin(BackofficeAdmin):
    index_section = "Tax settings"
    form = TaxRateForm
    list_display = (
        "display_name",
        "rate",
        "inclusive",
        "country",
        "state",
        "jurisdiction",
        "tax_type",
        "active",
        "stripe_push_status",
    )
    list_filter = ("active", "tax_type", "inclusive", "country", "stripe_push_status")
    search_fields = ("display_name", "jurisdiction", "state", "stripe_tax_rate__id")
    readonly_fields = (
        "active",
        "replaced_by",
        "stripe_tax_rate",
        "stripe_push_status",
        "stripe_pushed_at",
        "stripe_push_error",
        "stripe_writes",
    )
    fieldsets = (
        (
            None,
            {
                "fields": (
                    ("display_name", "tax_type"),
                    ("percentage", "inclusive"),
                    ("country", "state", "jurisdiction"),
                    "description",
                    ("active", "replaced_by"),
                ),
                "description": "Stripe never changes a rate's percentage, inclusiveness or "
                "place: saving a change to one of them makes a new rate and archives this one; "
                "the rules move to the new rate.",
            },
        ),
        (
            "Stripe",
            {
                "fields": (
                    ("stripe_tax_rate", "stripe_push_status", "stripe_pushed_at"),
                    "stripe_push_error",
                    "stripe_writes",
                )
            },
        ),
    )
    actions = ("archive",)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # archived, never deleted: invoices name them

    @admin.display(description="percentage", ordering="percentage")
    def rate(self, rate: TaxRate) -> str:
        return rate.rate_text

    @admin.display(description="sent to Stripe")
    def stripe_writes(self, rate: TaxRate) -> str:
        return stripe_writes_table(stripe_writes_of(rate))

    def save_model(self, request: HttpRequest, obj: TaxRate, form: Any, change: bool) -> None:
        fixed = [f for f in FIXED_IN_STRIPE if f in form.changed_data]
        if change and fixed:
            new = tax_rate_replace(
                rate=obj, changes={f: form.cleaned_data[f] for f in form.changed_data}
            )
            obj.pk = new.pk  # the admin then shows the new rate
            self.message_user(
                request,
                f"Stripe cannot change a rate's {', '.join(fixed)}: {new} replaces the old "
                "rate, which is archived; its rules now name the new one.",
                messages.WARNING,
            )
            return
        super().save_model(request, obj, form, change)
        tax_rate_push_after_commit(obj)

    @admin.action(description="Archive the selected rates (in Stripe too)")
    def archive(self, request: HttpRequest, queryset: QuerySet[TaxRate]) -> None:
        for rate in queryset:
            tax_rate_archive(rate=rate)
        self.message_user(request, f"{queryset.count()} rate(s) archived.")


@admin.register(TaxRule)
class TaxRuleAdmin(BackofficeAdmin):
    index_section = "Tax settings"
    list_display = ("__str__", "country", "state", "rate", "valid_from", "valid_until")
    list_select_related = ("rate",)
    list_filter = ("country",)
    search_fields = ("state", "rate__display_name", "note")
    autocomplete_fields = ("rate",)
    fields = (("country", "state"), "rate", ("valid_from", "valid_until"), "note")
