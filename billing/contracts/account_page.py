"""What billing adds to customers' account pages (customers' own admin imports nothing of
billing): on the accounts list, a tax column and the filter "tax readiness"; on the account
page, the tax its next invoice carries (with every contradiction) and its contracts."""

from typing import Any

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode

from billing.contracts.models import Contract
from billing.contracts.selectors import account_tax_readiness, accounts_tax_readiness
from billing.money import format_amount
from billing.tax.readiness import tax_readiness_html
from customers.admin import AccountAdmin, CountryInUseFilter
from customers.models import Account


class TaxReadinessFilter(admin.SimpleListFilter):
    """Accounts whose next invoice would be taxed wrongly."""

    title = "tax readiness"
    parameter_name = "tax"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("not_ready", "Tax not ready"), ("ready", "Tax ready")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Account]) -> QuerySet[Account]:
        if self.value() not in ("ready", "not_ready"):
            return queryset
        readiness = accounts_tax_readiness(queryset, today=timezone.localdate())
        wanted = self.value() == "ready"
        return queryset.filter(pk__in=[pk for pk, r in readiness.items() if r.ready == wanted])


class AccountChangeList(ChangeList):
    """The accounts list, with every row's tax readiness read for the page in one go."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        rows = list(self.result_list)
        readiness = accounts_tax_readiness(
            Account.objects.filter(pk__in=[a.pk for a in rows]), today=timezone.localdate()
        )
        for account in rows:
            account.tax_readiness_on_page = readiness.get(account.pk)


class AccountContractInline(admin.TabularInline):
    model = Contract
    extra = 0
    fields = ("contract", "status", "start_date", "end_date", "annual_value")
    readonly_fields = fields
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="annual value")
    def annual_value(self, contract: Contract) -> str:
        return format_amount(contract.annual_contract_value, contract.currency)

    @admin.display(description="contract")
    def contract(self, contract: Contract) -> str:
        url = reverse("admin:billing_contract_change", args=[contract.pk])
        return format_html('<a href="{}">{}</a>', url, contract)


def _with_field(fieldsets: Any, section: str, field: str) -> tuple[Any, ...]:
    return tuple(
        (name, {**options, "fields": (*options["fields"], field)} if name == section else options)
        for name, options in fieldsets
    )


def _after(items: tuple[Any, ...], anchor: Any, item: Any) -> tuple[Any, ...]:
    at = items.index(anchor) + 1
    return (*items[:at], item, *items[at:])


# Registered by customers; billing's version of the same page takes its place.
admin.site.unregister(Account)


@admin.register(Account)
class AccountWithContractsAdmin(AccountAdmin):
    """customers' accounts list and account page, with a tax column, the filter "tax
    readiness", the tax the next invoice carries, and the account's contracts."""

    list_display = (*AccountAdmin.list_display, "tax")
    list_filter = _after(AccountAdmin.list_filter, CountryInUseFilter, TaxReadinessFilter)
    readonly_fields = (*AccountAdmin.readonly_fields, "tax_readiness", "new_contract")
    inlines = (*AccountAdmin.inlines, AccountContractInline)
    fieldsets = (
        *_with_field(AccountAdmin.fieldsets, "Payment and tax", "tax_readiness"),
        ("Contracts", {"fields": ("new_contract",)}),
    )

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> Any:
        return AccountChangeList

    @admin.display(description="tax")
    def tax(self, account: Account) -> str:
        # Worked out for the whole page at once by AccountChangeList.
        readiness = getattr(account, "tax_readiness_on_page", None)
        if readiness is None or readiness.ready:
            return "ready" if readiness else "-"
        more = len(readiness.problems) - 1
        return str(readiness.problems[0]) + (f" (+{more} more)" if more else "")

    @admin.display(description="new contract")
    def new_contract(self, account: Account) -> str:
        """The contract page, for this account and in its currency (both can be changed)."""
        if account.pk is None:
            return "-"
        url = (
            reverse("admin:billing_contract_add")
            + "?"
            + urlencode({"account": str(account.pk), "currency": str(account.default_currency)})
        )
        return format_html('<a class="addlink" href="{}">New contract for {}</a>', url, account)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or not request.user.has_perm("billing.add_contract"):
            fieldsets = [f for f in fieldsets if f[0] != "Contracts"]
        return fieldsets

    @admin.display(description="tax on the next invoice")
    def tax_readiness(self, account: Account) -> str:
        if account.pk is None:
            return "-"
        return tax_readiness_html(account_tax_readiness(account, today=timezone.localdate()))
