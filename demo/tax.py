"""Demo tax settings: rates and rules for the demo's countries, and customers whose tax status
shows each case of the readiness check (ready, and every kind of contradiction)."""

from datetime import date
from decimal import Decimal

from django.db import transaction

from billing.contracts.models import Contract
from billing.tax.models import TaxRate, TaxRule
from customers.models import Account, TaxId

RULES_FROM = date(2024, 1, 1)

# (country, state, display name, percentage, inclusive, tax type, jurisdiction)
DEMO_RATES: list[tuple[str, str, str, str, bool, str, str]] = [
    ("DE", "", "VAT", "19", False, "vat", "Germany"),
    ("FR", "", "TVA", "20", False, "vat", "France"),
    ("GB", "", "VAT", "20", False, "vat", "United Kingdom"),
    ("NL", "", "BTW", "21", False, "vat", "Netherlands"),
    ("IE", "", "VAT", "23", False, "vat", "Ireland"),
    ("ES", "", "IVA", "21", False, "vat", "Spain"),
    ("IT", "", "IVA", "22", False, "vat", "Italy"),
    ("SE", "", "Moms", "25", False, "vat", "Sweden"),
    ("CH", "", "MWST", "8.1", False, "vat", "Switzerland"),
    ("NO", "", "MVA", "25", False, "vat", "Norway"),
    ("BH", "", "VAT", "10", False, "vat", "Bahrain"),
    ("KW", "", "No VAT", "0", False, "vat", "Kuwait"),
    ("US", "CA", "Sales tax", "7.25", False, "sales_tax", "California"),
    ("US", "NY", "Sales tax", "4", False, "sales_tax", "New York"),
    ("US", "TX", "Sales tax", "6.25", False, "sales_tax", "Texas"),
    ("US", "WA", "Sales tax", "6.5", False, "sales_tax", "Washington"),
    ("AU", "", "GST", "10", False, "gst", "Australia"),
    ("IN", "", "IGST", "18", False, "igst", "India"),
    ("SG", "", "GST", "9", False, "gst", "Singapore"),
    ("CA", "", "GST", "5", False, "gst", "Canada"),
    ("CA", "ON", "HST", "13", False, "hst", "Ontario"),
    ("CA", "QC", "GST + QST", "14.975", False, "qst", "Québec"),
    ("JP", "", "Consumption tax", "10", False, "jct", "Japan"),
    ("KR", "", "VAT", "10", False, "vat", "South Korea"),
    ("MX", "", "IVA", "16", False, "vat", "Mexico"),
]

# external_ref -> (exemption, evidence, valid until); the rest of each case below.
DEMO_TAX_STATUS: dict[str, tuple[str, str, date | None]] = {
    "CRM-0009": ("reverse", "", None),  # NL B2B with its VAT ID: ready
    "CRM-0019": ("reverse", "", None),  # ES B2B with its VAT ID: ready
    "CRM-0032": ("reverse", "", None),  # NL B2B without a VAT ID: contradiction
    "CRM-0023": ("exempt", "NY ST-119.1 #4471", date(2027, 12, 31)),  # exempt: ready
    "CRM-0022": ("exempt", "TX 01-339 #0982", date(2025, 12, 31)),  # evidence expired
}


@transaction.atomic
def demo_tax_ensure() -> None:
    rates = {}
    for country, state, name, percentage, inclusive, tax_type, jurisdiction in DEMO_RATES:
        rate, _ = TaxRate.objects.get_or_create(
            country=country,
            state=state,
            active=True,
            defaults={
                "display_name": name,
                "percentage": Decimal(percentage),
                "inclusive": inclusive,
                "tax_type": tax_type,
                "jurisdiction": jurisdiction,
            },
        )
        rates[country, state] = rate
        TaxRule.objects.get_or_create(
            country=country, state=state, defaults={"rate": rate, "valid_from": RULES_FROM}
        )
    for ref, (exemption, evidence, until) in DEMO_TAX_STATUS.items():
        Account.objects.filter(external_ref=ref).exclude(
            tax_exemption=exemption, exemption_certificate=evidence, exemption_valid_until=until
        ).update(
            tax_exemption=exemption, exemption_certificate=evidence, exemption_valid_until=until
        )
    # A Swiss customer with a German VAT ID on file: the ID or the address is wrong.
    zurich = Account.objects.filter(external_ref="CRM-0037").first()
    if zurich:
        TaxId.objects.get_or_create(account=zurich, type="eu_vat", value="DE136695976")
    # An Indian customer's contract is taxed by Stripe Tax rather than our IGST rule.
    Contract.objects.filter(account__external_ref="CRM-0011").exclude(
        tax_mode=Contract.TaxMode.STRIPE_TAX
    ).update(tax_mode=Contract.TaxMode.STRIPE_TAX)
    # A Japanese contract priced tax-included while the consumption tax rule adds tax.
    Contract.objects.filter(
        account__external_ref="CRM-0025", status=Contract.Status.ACTIVE, prices_include_tax=False
    ).update(prices_include_tax=True)
