from django.contrib import admin
from django_countries import countries
from simple_history.admin import SimpleHistoryAdmin

from customers.models import Account


@admin.register(Account)
class AccountAdmin(SimpleHistoryAdmin):
    list_display = (
        "legal_name",
        "external_ref",
        "country",
        "default_currency",
        "account_manager",
        "status",
    )
    list_select_related = ("account_manager",)
    list_filter = ("status", "billing_country", "default_currency", "account_manager")
    search_fields = ("legal_name", "display_name", "external_ref", "stripe_customer__id")
    readonly_fields = ("stripe_customer", "created_at", "updated_at")
    show_full_result_count = False

    # Not the field itself: the admin would rebuild the 250-country choice list for every row.
    @admin.display(description="country", ordering="billing_country")
    def country(self, account: Account) -> str:
        return str(countries.name(account.billing_country))
