from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django_countries import countries
from djstripe.models import TaxId as MirroredTaxId

from backoffice.admin_site import BackofficeAdmin, plain_column
from customers.hooks import account_payment_methods_changed
from customers.models import Account, Contact, TaxId
from customers.payment_methods import PAYMENT_METHOD_CHOICES
from customers.resources import AccountResource
from customers.selectors import VIEW_ALL_ACCOUNTS, accounts_visible_to
from customers.services import account_push_after_commit
from file_imports.admin import FileImportExportMixin
from stripe_sync.admin import refused_while_disconnected, stripe_writes_table
from stripe_sync.writes import stripe_writes_of


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


class AccountForm(forms.ModelForm):
    # Ticked from the catalogue; Account.clean() refuses one not offered in the account's
    # country or currencies, naming it, as an error on this field.
    accepted_payment_methods = forms.MultipleChoiceField(
        label="Accepted payment methods",
        choices=PAYMENT_METHOD_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=Account._meta.get_field("accepted_payment_methods").help_text,
    )

    class Meta:
        model = Account
        fields = ("accepted_payment_methods",)  # the others: the fieldsets


@admin.register(Account)
class AccountAdmin(FileImportExportMixin, BackofficeAdmin):
    """The accounts list and the account page. Billing adds its sections (the account's
    contracts, the tax its next invoice carries) in billing/contracts/account_page.py, extending
    this class: customers imports nothing of billing."""

    form = AccountForm
    resource_classes = [AccountResource]
    list_display: tuple[Any, ...] = (
        "legal_name",
        "external_ref",
        "country",
        plain_column("default_currency", "currency"),
        "account_manager",
        "status",
        "stripe_push_status",
    )
    list_select_related = ("account_manager",)
    list_filter: tuple[Any, ...] = (
        "status",
        CountryInUseFilter,
        ("default_currency", admin.AllValuesFieldListFilter),
        "account_manager",
        "stripe_push_status",
    )
    search_fields = ("legal_name", "display_name", "external_ref", "stripe_customer__id")
    readonly_fields: tuple[Any, ...] = (
        "stripe_customer",
        "created_at",
        "updated_at",
        "stripe_push_status",
        "stripe_pushed_at",
        "stripe_push_error",
        "stripe_writes",
    )
    actions = ("send_to_stripe",)
    inlines: tuple[Any, ...] = (ContactInline, TaxIdInline)
    show_full_result_count = False
    fieldsets: tuple[Any, ...] = (
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
                    "accepted_payment_methods",
                    "tax_exemption",
                    ("exemption_certificate", "exemption_valid_from", "exemption_valid_until"),
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

    @admin.display(description="sent to Stripe")
    def stripe_writes(self, account: Account) -> str:
        return stripe_writes_table(stripe_writes_of(account))

    @admin.action(description="Send the selected records to Stripe now")
    def send_to_stripe(self, request: HttpRequest, queryset: QuerySet[Account]) -> None:
        if refused_while_disconnected(self, request):
            return
        for account in queryset:
            account_push_after_commit(account)
        self.message_user(request, f"{queryset.count()} account(s) queued for Stripe.")

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        # An account already in Stripe is kept in step; a new one goes when a contract does.
        if form.instance.stripe_customer_id:
            account_push_after_commit(form.instance)
        if change and "accepted_payment_methods" in form.changed_data:
            account_payment_methods_changed.send(form.instance)

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
