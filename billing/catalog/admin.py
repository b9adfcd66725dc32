from django.contrib import admin

from backoffice.admin_site import BackofficeAdmin
from billing.catalog.models import CatalogItem, ListPrice


class ListPriceInline(admin.TabularInline):
    model = ListPrice
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
