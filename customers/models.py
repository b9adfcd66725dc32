from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django_countries.fields import CountryField
from simple_history.models import HistoricalRecords

from billing.money import CURRENCY_CHOICES, validate_currency
from customers.payment_methods import (
    PAYMENT_METHODS,
    account_payment_method_refusals,
    default_payment_methods,
)
from customers.tax_ids import TAX_ID_TYPE_CHOICES, tax_id_country, tax_id_normalize
from stripe_sync.models import StripePushState


class Account(StripePushState):
    """An enterprise customer: the company we bill, as finance and the CRM know it."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        CLOSED = "closed", "Closed"

    class TaxExemption(models.TextChoices):
        # Stripe's tax_exempt values.
        NONE = "none", "None (taxed)"
        EXEMPT = "exempt", "Exempt"
        REVERSE = "reverse", "Reverse charge"

    legal_name = models.CharField(max_length=200)
    display_name = models.CharField(max_length=200, blank=True)
    external_ref = models.CharField(
        "external reference",
        max_length=64,
        unique=True,
        help_text="The account's key in the CRM; CSV imports match accounts on it.",
    )
    billing_email = models.EmailField(blank=True, help_text="Where invoices are sent.")
    address_line1 = models.CharField("address line 1", max_length=200, blank=True)
    address_line2 = models.CharField("address line 2", max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    state = models.CharField(
        "state or province",
        max_length=64,
        blank=True,
        help_text="US states and Canadian provinces by their two-letter code (CA, ON).",
    )
    billing_country = CountryField()
    default_currency = models.CharField(
        max_length=3, choices=CURRENCY_CHOICES, validators=[validate_currency]
    )
    account_manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="managed_accounts",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    # How the customer pays: Stripe payment method types (customers/payment_methods.py), in
    # the catalogue's order; they become the payment_method_types of its invoices.
    accepted_payment_methods = models.JSONField(
        "accepted payment methods",
        default=default_payment_methods,
        blank=True,
        help_text="Offered on the account's invoices; each must be offered in the account's "
        "country and every currency it is billed in.",
    )
    tax_exemption = models.CharField(
        max_length=8, choices=TaxExemption.choices, default=TaxExemption.NONE
    )
    exemption_certificate = models.CharField(
        "exemption evidence",
        max_length=200,
        blank=True,
        help_text="The certificate or letter that exempts the customer: its reference.",
    )
    exemption_valid_from = models.DateField(null=True, blank=True)
    exemption_valid_until = models.DateField(
        null=True, blank=True, help_text="Blank: no end date on the evidence."
    )
    stripe_customer = models.OneToOneField(
        "djstripe.Customer",
        to_field="id",  # the Stripe id (cus_...), stable across re-syncs of the mirror
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="backoffice_account",
        help_text="Set once the account exists in Stripe.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ("legal_name",)
        permissions = [
            ("view_all_accounts", "Can see and work on every account, not only their own"),
            ("import_account", "Can import accounts, contacts and tax IDs from files"),
            ("export_account", "Can export accounts to files"),
        ]

    def __str__(self) -> str:
        return self.display_name or self.legal_name

    def clean(self) -> None:
        codes = self.accepted_payment_methods
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise ValidationError({"accepted_payment_methods": "A list of payment method codes."})
        # One each, in the catalogue's order (what Stripe's invoice then lists).
        order = list(PAYMENT_METHODS)
        self.accepted_payment_methods = sorted(
            set(codes), key=lambda c: (c not in order, order.index(c) if c in order else 0, c)
        )
        if not self.billing_country or not self.default_currency:
            return  # their own errors come first
        refusals = account_payment_method_refusals(self)
        if refusals:
            raise ValidationError({"accepted_payment_methods": refusals})


class Contact(models.Model):
    class Role(models.TextChoices):
        BILLING = "billing", "Billing"
        PRIMARY = "primary", "Primary"
        TECHNICAL = "technical", "Technical"
        LEGAL = "legal", "Legal"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(max_length=200)
    email = models.EmailField()
    phone = models.CharField(max_length=40, blank=True)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.BILLING)
    receives_invoices = models.BooleanField(default=False)

    history = HistoricalRecords()

    class Meta:
        ordering = ("account", "name")

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class TaxId(models.Model):
    """A customer's tax registration, as Stripe names its types (eu_vat, gb_vat, ...)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="tax_ids")
    type = models.CharField(max_length=16, choices=TAX_ID_TYPE_CHOICES)
    value = models.CharField(
        max_length=64, help_text="Checked against the country's format and check digits."
    )
    country = CountryField(editable=False, help_text="The country the number belongs to.")
    stripe_id = models.CharField("Stripe id", max_length=64, blank=True, editable=False)

    history = HistoricalRecords()

    class Meta:
        verbose_name = "tax ID"
        constraints = [
            models.UniqueConstraint(fields=["account", "type", "value"], name="unique_tax_id"),
        ]

    def __str__(self) -> str:
        return f"{self.get_type_display()} {self.value}"

    def clean(self) -> None:
        if not self.type or not self.value:
            return
        try:
            self.value = tax_id_normalize(self.type, self.value)
        except ValidationError as error:
            raise ValidationError({"value": error.messages}) from error
        self.country = tax_id_country(self.type, self.value)
