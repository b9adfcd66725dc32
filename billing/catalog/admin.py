from typing import Any

from django import forms
from django.contrib import admin

from backoffice.admin_site import BackofficeAdmin
from billing.catalog.models import CatalogItem, ListPrice
from billing.money import amounts_as_typed


class ListPriceForm(forms.ModelForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # In the currency's precision (4000 JPY, 25.00 EUR), not as stored (25.000000).
        if self.instance.pk:
            amounts_as_typed(self, ("unit_amount",), self.instance.currency)


class ListPriceInline(admin.TabularInline):
    model = ListPrice
    form = ListPriceForm
    extra = 0
    fields = ("currency", "unit_amount")


@admin.register(CatalogItem)
class CatalogItemAdmin(BackofficeAdmin):
    list_display = ("name", "code", "unit_label", "stripe_product", "active")
    list_select_related = ("stripe_product",)
    list_filter = ("active",)
    search_fields = ("name", "code", "stripe_product__id")
    readonly_fields = ("stripe_product",)
    inlines = (ListPriceInline,)
    show_full_result_count = False
