from typing import Any

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django_countries import countries
from djstripe.models import TaxId as MirroredTaxId

from backoffice.admin_site import BackofficeAdmin, plain_column
from billing.admin.file_imports import FileImportExportMixin
from billing.imports.accounts import AccountResource
from billing.models import Contract
from billing.money import format_amount
from billing.tasks import account_push_to_stripe_task
from billing.tax_readiness import account_tax_readiness, accounts_tax_readiness, tax_readiness_html
from customers.models import Account, Contact, TaxId
from customers.selectors import VIEW_ALL_ACCOUNTS, accounts_visible_to
from stripe_sync.admin import refused_while_disconnected, stripe_writes_table
from stripe_sync.writes import push_after_commit, stripe_writes_of


class CountryInUseFilter(admin.SimpleListFilter):
    """Only the countries accounts are in, not all 250."""

    title = "billing country"
    parameter_name = "country"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        codes = model_admin.get_queryset(request).values_list("billing_country", flat=True)
        return sorted(((c, str(countries.name(c))) for c in set(codes)), key=lambda c: c[1])

    def queryset(self, request: HttpRequest, queryset: QuerySet[Account]) -> QuerySet[Account]:
        return queryset.filter(billing_country=self.value()) if self.value() else queryset


class ContactInline(admin.TabularInline):
    model = Contact
    extra = 0
    fields = ("name", "email", "phone", "role", "receives_invoices")


class TaxReadinessFilter(admin.SimpleListFilter):
    """Accounts whose next invoice would be taxed wrongly (billing/tax_readiness.py)."""

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


class TaxIdInline(admin.TabularInline):
    model = TaxId
    extra = 0
    fields = ("type", "value", "country", "stripe_id", "stripe_verification")
    readonly_fields = ("country", "stripe_id", "stripe_verification")

    @admin.display(description="Stripe verification")
    def stripe_verification(self, tax_id: TaxId) -> str:
        # Stripe verifies EU VAT, GB VAT and AU ABN numbers; the mirror holds its verdict.
        if not tax_id.stripe_id:
            return "not in Stripe yet"
        mirrored = MirroredTaxId.objects.filter(id=tax_id.stripe_id).first()
        verification = (mirrored.stripe_data.get("verification") or {}) if mirrored else {}
        return str(verification.get("status") or "unknown").replace("_", " ")


class ContractInline(admin.TabularInline):
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


@admin.register(Account)
class AccountAdmin(FileImportExportMixin, BackofficeAdmin):
    import_resources = (AccountResource,)
    list_display = (
        "legal_name",
        "external_ref",
        "country",
        plain_column("default_currency", "currency"),
        "account_manager",
        "status",
        "stripe_push_status",
        "tax",
    )
    list_select_related = ("account_manager",)
    list_filter = (
        "status",
        CountryInUseFilter,
        TaxReadinessFilter,
        ("default_currency", admin.AllValuesFieldListFilter),
        "account_manager",
        "stripe_push_status",
    )
    search_fields = ("legal_name", "display_name", "external_ref", "stripe_customer__id")
    readonly_fields = (
        "stripe_customer",
        "created_at",
        "updated_at",
        "stripe_push_status",
        "stripe_pushed_at",
        "stripe_push_error",
        "stripe_writes",
        "tax_readiness",
    )
    actions = ("send_to_stripe",)
    inlines = (ContactInline, TaxIdInline, ContractInline)
    show_full_result_count = False
    fieldsets = (
        (
            None,
            {
                "fields": (
                    ("legal_name", "display_name"),
                    ("external_ref", "status"),
                    "account_manager",
                )
            },
        ),
        (
            "Billing",
            {
                "fields": (
                    "billing_email",
                    ("address_line1", "address_line2"),
                    ("city", "postal_code"),
                    ("state", "billing_country"),
                    "default_currency",
                )
            },
        ),
        (
            "Payment and tax",
            {
                "fields": (
                    (
                        "accepts_card",
                        "accepts_us_bank_account",
                        "accepts_sepa_debit",
                        "accepts_bank_transfer",
                    ),
                    "tax_exemption",
                    ("exemption_certificate", "exemption_valid_from", "exemption_valid_until"),
                    "tax_readiness",
                )
            },
        ),
        (
            "Stripe",
            {
                "fields": (
                    ("stripe_customer", "stripe_push_status", "stripe_pushed_at"),
                    "stripe_push_error",
                    "stripe_writes",
                    ("created_at", "updated_at"),
                )
            },
        ),
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
        return readiness.problems[0] + (f" (+{more} more)" if more else "")

    @admin.display(description="tax on the next invoice")
    def tax_readiness(self, account: Account) -> str:
        if account.pk is None:
            return "-"
        return tax_readiness_html(account_tax_readiness(account, today=timezone.localdate()))

    @admin.display(description="sent to Stripe")
    def stripe_writes(self, account: Account) -> str:
        return stripe_writes_table(stripe_writes_of(account))

    @admin.action(description="Send the selected records to Stripe now")
    def send_to_stripe(self, request: HttpRequest, queryset: QuerySet[Account]) -> None:
        if refused_while_disconnected(self, request):
            return
        for pk in queryset.values_list("pk", flat=True):
            push_after_commit(account_push_to_stripe_task, pk)
        self.message_user(request, f"{queryset.count()} account(s) queued for Stripe.")

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        # An account already in Stripe is kept in step; a new one goes when a contract does.
        if form.instance.stripe_customer_id:
            push_after_commit(account_push_to_stripe_task, form.instance.pk)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # An account manager does not hand their accounts to someone else.
        fields = super().get_readonly_fields(request, obj)
        if not request.user.has_perm(VIEW_ALL_ACCOUNTS):
            return (*fields, "account_manager")
        return fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Account]:
        # Account managers see, change and find only their own accounts, on every screen.
        return accounts_visible_to(request.user)  # type: ignore[arg-type]

    # Not the field itself: the admin would rebuild the 250-country choice list for every row.
    @admin.display(description="country", ordering="billing_country")
    def country(self, account: Account) -> str:
        return str(countries.name(account.billing_country))
