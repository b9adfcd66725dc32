"""The payment methods an account may accept, and where Stripe offers each: one table.

Stripe names them by `payment_method_types` code. Each method takes some currencies, and for
each currency, customers in some countries (a bank debit needs a bank account of that scheme's
country; a local wallet, a resident). Stripe refuses an invoice whose methods do not fit its
currency, so finance is told when setting them, not at finalization.

The table lives here, in customers, because the account holds its accepted methods and checks
them in `Account.clean()` (the admin form and the accounts import both run it); payments, above,
imports it for its pages. The currencies an account is billed in include its contracts', which
customers cannot read: the layer that knows them registers a source (`billing_currencies_source`).

From Stripe's payment method pages (docs.stripe.com/payments/payment-methods/...); Sofort and
giropay are left out: Stripe withdrew them in 2024.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django_countries import countries as country_names

if TYPE_CHECKING:
    from customers.models import Account

# Where SEPA Direct Debit reaches: the EU, the EEA and the other SEPA members.
SEPA_COUNTRIES = frozenset(
    """
    AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE
    IS LI NO CH GB MC SM VA AD
    """.split()
)

ANYWHERE = None  # a currency any customer, wherever they are, may pay in by this method


@dataclass(frozen=True)
class PaymentMethod:
    code: str  # Stripe's payment_method_types value
    name: str  # as finance and the customer know it
    # Per currency it takes, the customers' countries it is offered to (ANYWHERE: all).
    offered: dict[str, frozenset[str] | None]
    region: str  # who it is for, in words, for the refusal
    # A debit from the customer's bank account: Stripe needs a mandate before collecting.
    debit: bool = False
    any_currency: bool = False  # cards and Link: every currency Stripe presents

    def currencies(self) -> list[str]:
        return sorted(self.offered)


def _in(countries: str) -> frozenset[str]:
    return frozenset(countries.split())


CATALOGUE: tuple[PaymentMethod, ...] = (
    PaymentMethod("card", "Card", {}, "everywhere", any_currency=True),
    PaymentMethod("link", "Link", {}, "everywhere", any_currency=True),
    # Bank debits: a mandate first, then Stripe collects.
    PaymentMethod(
        "us_bank_account",
        "US bank account (ACH Direct Debit)",
        {"USD": _in("US")},
        "customers with a US bank account",
        debit=True,
    ),
    PaymentMethod(
        "sepa_debit",
        "SEPA Direct Debit",
        {"EUR": SEPA_COUNTRIES},
        "customers in the SEPA area",
        debit=True,
    ),
    PaymentMethod(
        "bacs_debit", "Bacs Direct Debit", {"GBP": _in("GB")}, "customers in the UK", debit=True
    ),
    PaymentMethod(
        "au_becs_debit",
        "BECS Direct Debit (Australia)",
        {"AUD": _in("AU")},
        "customers in Australia",
        debit=True,
    ),
    PaymentMethod(
        "nz_bank_account",
        "BECS Direct Debit (New Zealand)",
        {"NZD": _in("NZ")},
        "customers in New Zealand",
        debit=True,
    ),
    PaymentMethod(
        "acss_debit",
        "Canadian pre-authorized debit (ACSS)",
        {"CAD": _in("CA"), "USD": _in("CA")},
        "customers with a Canadian bank account",
        debit=True,
    ),
    # Bank transfers to a virtual account: Stripe opens one per currency in these countries.
    PaymentMethod(
        "customer_balance",
        "Bank transfer",
        {
            "EUR": _in("AT BE DE EE ES FI FR IE IT LT LU LV NL PT SI SK"),
            "GBP": _in("GB"),
            "JPY": _in("JP"),
            "MXN": _in("MX"),
            "USD": _in("US"),
        },
        "customers in the country of the currency's bank network",
    ),
    # Local methods of the markets served.
    PaymentMethod("ideal", "iDEAL", {"EUR": _in("NL")}, "customers in the Netherlands"),
    PaymentMethod("bancontact", "Bancontact", {"EUR": _in("BE")}, "customers in Belgium"),
    PaymentMethod("eps", "EPS", {"EUR": _in("AT")}, "customers in Austria"),
    PaymentMethod("p24", "Przelewy24", {"EUR": _in("PL"), "PLN": _in("PL")}, "customers in Poland"),
    PaymentMethod("blik", "BLIK", {"PLN": _in("PL")}, "customers in Poland"),
    PaymentMethod("multibanco", "Multibanco", {"EUR": _in("PT")}, "customers in Portugal"),
    PaymentMethod("twint", "TWINT", {"CHF": _in("CH")}, "customers in Switzerland"),
    PaymentMethod(
        "pay_by_bank", "Pay by Bank (UK open banking)", {"GBP": _in("GB")}, "customers in the UK"
    ),
    PaymentMethod("boleto", "Boleto", {"BRL": _in("BR")}, "customers in Brazil"),
    PaymentMethod("oxxo", "OXXO", {"MXN": _in("MX")}, "customers in Mexico"),
    PaymentMethod("konbini", "Konbini", {"JPY": _in("JP")}, "customers in Japan"),
    PaymentMethod("paynow", "PayNow", {"SGD": _in("SG")}, "customers in Singapore"),
    PaymentMethod("promptpay", "PromptPay", {"THB": _in("TH")}, "customers in Thailand"),
    PaymentMethod("fpx", "FPX", {"MYR": _in("MY")}, "customers in Malaysia"),
)

PAYMENT_METHODS: dict[str, PaymentMethod] = {m.code: m for m in CATALOGUE}
PAYMENT_METHOD_CHOICES = [(m.code, m.name) for m in CATALOGUE]
# What an account accepts when nobody said otherwise.
DEFAULT_PAYMENT_METHODS = ["card"]


def default_payment_methods() -> list[str]:
    return list(DEFAULT_PAYMENT_METHODS)


def payment_method_name(code: str) -> str:
    method = PAYMENT_METHODS.get(code)
    return method.name if method else code


def _listed(items: Iterable[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def payment_method_refusals(
    codes: Iterable[str], *, country: str, currencies: Iterable[str]
) -> list[str]:
    """Why each of `codes` cannot be offered to a customer in `country` billed in
    `currencies` (empty: all can): "SEPA Direct Debit takes EUR only; this account is billed
    in USD"."""
    billed = sorted({c.upper() for c in currencies if c})
    country = str(country or "").upper()
    where = str(country_names.name(country)) or country
    reasons = []
    for code in codes:
        method = PAYMENT_METHODS.get(code)
        if method is None:
            reasons.append(f"'{code}' is not a payment method Stripe offers the markets we serve.")
            continue
        if method.any_currency:
            continue
        other = [c for c in billed if c not in method.offered]
        if other:
            reasons.append(
                f"{method.name} takes {_listed(method.currencies())} only; this account is "
                f"billed in {_listed(other)}."
            )
            continue
        for currency in billed:
            allowed = method.offered[currency]
            if allowed is not ANYWHERE and country not in allowed:
                reasons.append(
                    f"{method.name} in {currency} is offered to {method.region}; this account "
                    f"is in {where}."
                )
                break
    return reasons


# --- The currencies an account is billed in ------------------------------------------------

BillingCurrencies = Callable[["Account"], set[str]]
_currency_sources: list[BillingCurrencies] = []


def billing_currencies_source(source: BillingCurrencies) -> BillingCurrencies:
    """Register where else an account's billing currencies come from (its contracts), from a
    layer above customers, in its AppConfig.ready; registering twice counts once."""
    if source not in _currency_sources:
        _currency_sources.append(source)
    return source


def account_billing_currencies(account: "Account") -> set[str]:
    """The account's default currency and whatever the registered sources add."""
    currencies = {account.default_currency} if account.default_currency else set()
    if account.pk:
        for source in _currency_sources:
            currencies |= source(account)
    return {c.upper() for c in currencies}


def account_payment_method_refusals(account: "Account") -> list[str]:
    return payment_method_refusals(
        account.accepted_payment_methods,
        country=str(account.billing_country or ""),
        currencies=account_billing_currencies(account),
    )


def debit_methods(codes: Iterable[str]) -> list[str]:
    """Those of `codes` that debit a bank account (and so need a mandate)."""
    return [c for c in codes if c in PAYMENT_METHODS and PAYMENT_METHODS[c].debit]
