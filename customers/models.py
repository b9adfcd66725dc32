from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django_countries.fields import CountryField
from simple_history.models import HistoricalRecords

currency_code_validator = RegexValidator(
    r"^[A-Z]{3}$", "Enter a three-letter ISO 4217 currency code in capitals, such as EUR."
)


class Account(models.Model):
    """An enterprise customer: the company we bill, as finance and the CRM know it."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        CLOSED = "closed", "Closed"

    legal_name = models.CharField(max_length=200)
    display_name = models.CharField(max_length=200, blank=True)
    external_ref = models.CharField(
        "external reference",
        max_length=64,
        unique=True,
        help_text="The account's key in the CRM; CSV imports match accounts on it.",
    )
    billing_country = CountryField()
    default_currency = models.CharField(max_length=3, validators=[currency_code_validator])
    account_manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="managed_accounts",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
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

    def __str__(self) -> str:
        return self.display_name or self.legal_name
