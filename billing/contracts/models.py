"""Enterprise contracts: the terms negotiated, the custom prices, and their versions."""

from datetime import date

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from billing.catalog.models import CatalogItem
from billing.money import CURRENCY_CHOICES, amount_field, unit_amount_field, validate_currency
from billing.pricing import PricingModel, is_metered
from stripe_sync.models import StripePushState

PRICING_MODEL_CHOICES = [
    (PricingModel.FLAT.value, "Flat fee"),
    (PricingModel.PER_UNIT.value, "Per unit (seats)"),
    (PricingModel.GRADUATED.value, "Tiered, graduated"),
    (PricingModel.VOLUME.value, "Tiered, volume"),
    (PricingModel.USAGE.value, "Usage-based"),
]

PAYMENT_TERMS_CHOICES = [
    (0, "Due on receipt (net 0)"),
    (15, "Net 15"),
    (30, "Net 30"),
    (45, "Net 45"),
    (60, "Net 60"),
    (90, "Net 90"),
]


class Contract(StripePushState):
    """One version of a contract. An amendment is a new version with the same number."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PENDING_APPROVAL = "pending_approval", "Pending approval"
        ACTIVE = "active", "Active"
        SUPERSEDED = "superseded", "Superseded by an amendment"
        EXPIRED = "expired", "Expired"
        TERMINATED = "terminated", "Terminated"
        CANCELLED = "cancelled", "Cancelled"

    class BillingFrequency(models.IntegerChoices):
        # The value is the length of a billing period in months.
        MONTHLY = 1, "Monthly"
        QUARTERLY = 3, "Quarterly"
        SEMI_ANNUAL = 6, "Semi-annual"
        ANNUAL = 12, "Annual"

    class CollectionMethod(models.TextChoices):
        # Stripe's collection_method values.
        CHARGE_AUTOMATICALLY = "charge_automatically", "Charge automatically"
        SEND_INVOICE = "send_invoice", "Send invoice"

    class TaxMode(models.TextChoices):
        RULES = "rules", "Our tax rules (rates from Tax settings)"
        STRIPE_TAX = "stripe_tax", "Stripe Tax (calculated by Stripe)"

    number = models.CharField(
        "contract number",
        max_length=32,
        blank=True,
        help_text="Left blank, the next number (C-2026-00001) is given on saving.",
    )
    version = models.PositiveSmallIntegerField(default=1, editable=False)
    amends = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="amendments",
        help_text="The version this amendment changes.",
    )
    effective_date = models.DateField(
        null=True,
        blank=True,
        help_text="Amendments: the day this version takes over from the one it amends.",
    )
    account = models.ForeignKey(
        "customers.Account", on_delete=models.PROTECT, related_name="contracts"
    )
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.DRAFT, editable=False
    )
    signed_date = models.DateField(null=True, blank=True)
    start_date = models.DateField()
    end_date = models.DateField(help_text="The last day of the term, included.")
    auto_renew = models.BooleanField("renews automatically", default=False)
    renewal_term_months = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Months each renewal adds."
    )
    notice_period_days = models.PositiveSmallIntegerField(
        default=30, help_text="Days before the end by which either side must give notice."
    )
    billing_frequency = models.PositiveSmallIntegerField(
        choices=BillingFrequency.choices, default=BillingFrequency.MONTHLY
    )
    billing_anchor_date = models.DateField(
        null=True,
        blank=True,
        help_text="Billing periods start on this day; blank means the start date.",
    )
    collection_method = models.CharField(
        max_length=24, choices=CollectionMethod.choices, default=CollectionMethod.SEND_INVOICE
    )
    payment_terms_days = models.PositiveSmallIntegerField(
        "payment terms", choices=PAYMENT_TERMS_CHOICES, default=30
    )
    # The one currency of the contract and of every amount under it (its lines' phases and
    # tiers, its commit and values), so those stay Decimals rather than MoneyFields: a
    # contract is negotiated, priced and billed in one currency (Stripe's prices of one
    # subscription schedule share it), and a currency column per phase or tier could disagree
    # with it. billing.money shows them as Money of this currency.
    currency = models.CharField(
        max_length=3, choices=CURRENCY_CHOICES, validators=[validate_currency]
    )
    minimum_commit = amount_field(
        null=True,
        blank=True,
        help_text="Annual usage spend committed, in the contract currency; shortfalls are "
        "trued up each billing period.",
    )
    po_number = models.CharField("purchase order number", max_length=64, blank=True)
    tax_mode = models.CharField(max_length=16, choices=TaxMode.choices, default=TaxMode.RULES)
    prices_include_tax = models.BooleanField(
        "prices include tax",
        default=False,
        help_text="The contract's prices are gross (tax included) rather than net.",
    )
    notes = models.TextField(blank=True)

    # What it is worth, in the contract currency; recomputed by the services on every save.
    annual_contract_value = amount_field(default=0, editable=False)
    total_contract_value = amount_field(default=0, editable=False)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        editable=False,
        related_name="+",
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        editable=False,
        related_name="+",
    )
    submitted_at = models.DateTimeField(null=True, editable=False)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        editable=False,
        related_name="+",
    )
    approved_at = models.DateTimeField(null=True, editable=False)
    sent_back_reason = models.TextField(blank=True, editable=False)
    ended_reason = models.TextField(blank=True, editable=False)
    # Optimistic lock: every save increments it; a save based on an older one is refused.
    lock_version = models.PositiveIntegerField(default=0, editable=False)
    # Where the contract stands with Stripe: its schedule, and the fields of StripePushState.
    stripe_schedule_id = models.CharField(
        "Stripe subscription schedule", max_length=255, blank=True, editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ("-created_at",)
        permissions = [
            ("approve_contract", "Can approve contracts and send them back"),
            ("import_contract", "Can import contracts and their lines from files"),
            ("export_contract", "Can export contracts and their lines to files"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["number", "version"], name="unique_contract_version"),
            models.CheckConstraint(
                condition=Q(end_date__gte=models.F("start_date")), name="contract_ends_after_start"
            ),
            models.CheckConstraint(
                condition=Q(payment_terms_days__in=[days for days, _ in PAYMENT_TERMS_CHOICES]),
                name="contract_payment_terms_allowed",
            ),
            models.CheckConstraint(
                condition=Q(minimum_commit__isnull=True) | Q(minimum_commit__gte=0),
                name="contract_commit_not_negative",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "end_date"], name="contract_status_end"),
            models.Index(fields=["number"], name="contract_number"),
        ]

    def __str__(self) -> str:
        return f"{self.number} v{self.version}" if self.version > 1 else self.number

    @property
    def anchor(self) -> date:
        return self.billing_anchor_date or self.start_date

    @property
    def is_editable(self) -> bool:
        return self.status == self.Status.DRAFT


class ContractLine(models.Model):
    """What is sold under the contract and how it is priced; its prices live in its phases."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="lines")
    key = models.SlugField(
        max_length=40,
        blank=True,
        help_text="Unique within the contract (CSV imports and invoice checks match on it); "
        "blank gives line-1, line-2, ...",
    )
    position = models.PositiveSmallIntegerField(default=0)
    item = models.ForeignKey(CatalogItem, on_delete=models.PROTECT, related_name="+")
    description = models.CharField(max_length=200, blank=True)
    pricing_model = models.CharField(max_length=16, choices=PRICING_MODEL_CHOICES)
    metric = models.CharField(
        "usage metric",
        max_length=64,
        blank=True,
        help_text="For usage-based lines (and tiers on usage): the metric measured, e.g. "
        "api_calls.",
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ("contract", "position", "id")
        constraints = [
            models.UniqueConstraint(fields=["contract", "key"], name="unique_line_key"),
        ]

    def __str__(self) -> str:
        return f"{self.contract} / {self.key}"

    @property
    def is_metered(self) -> bool:
        """Bills the usage its billing meter records (billing.pricing.is_metered)."""
        return is_metered(self.metric)


class PricePhase(models.Model):
    """A line's prices over part of the term: year 1, year 2, ... of a ramp. Its amounts are in
    the contract's currency (Contract.currency says why there is no column of its own)."""

    line = models.ForeignKey(ContractLine, on_delete=models.CASCADE, related_name="phases")
    start_date = models.DateField(null=True, blank=True, help_text="Blank: the contract start.")
    end_date = models.DateField(null=True, blank=True, help_text="Blank: the contract end.")
    unit_amount = unit_amount_field(
        default=0, help_text="Per unit and billing period (per unit of usage)."
    )
    flat_amount = amount_field(default=0, help_text="Per billing period.")
    quantity = models.PositiveIntegerField(default=0, help_text="Committed units (seats).")
    included_units = models.PositiveBigIntegerField(
        default=0, help_text="Usage lines: units included each period before usage is charged."
    )
    # The Stripe price made for this phase of this contract version (prices cannot change).
    stripe_price_id = models.CharField(max_length=255, blank=True, editable=False)

    history = HistoricalRecords()

    class Meta:
        ordering = ("line", "start_date", "id")
        constraints = [
            models.CheckConstraint(
                condition=Q(unit_amount__gte=0) & Q(flat_amount__gte=0),
                name="phase_amounts_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.line} from {self.start_date or 'start'}"


class PriceTier(models.Model):
    """A tier of a phase's graduated or volume price, in the contract's currency."""

    phase = models.ForeignKey(PricePhase, on_delete=models.CASCADE, related_name="tiers")
    up_to = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Last unit of the tier; blank for the open-ended last."
    )
    unit_amount = unit_amount_field(default=0)
    flat_amount = amount_field(default=0)

    history = HistoricalRecords()

    class Meta:
        ordering = ("phase", models.F("up_to").asc(nulls_last=True))
        constraints = [
            models.CheckConstraint(
                condition=Q(unit_amount__gte=0) & Q(flat_amount__gte=0),
                name="tier_amounts_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"up to {self.up_to or '∞'}"
