"""Is a customer ready to be taxed right? What tax its next invoice carries, and why, and every
contradiction in its tax settings, in words finance can act on.

The tax itself comes from billing.tax.decide; this adds what a person has to fix. Pure: the
selector that reads accounts, their tax IDs, their contracts and the rules for any number of
accounts at once is billing.contracts.selectors.accounts_tax_readiness.
"""

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from django.utils.html import format_html, format_html_join
from django.utils.translation import get_language
from django_countries import countries

from billing.tax.decide import Rules, TaxTreatment, account_tax_decision
from customers.models import Account
from customers.tax_ids import tax_id_country

EU_COUNTRIES = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()
)


@dataclass(frozen=True)
class ContractTax:
    """What readiness needs of an active contract."""

    number: str
    stripe_tax: bool  # Stripe Tax calculates its invoices' tax
    prices_include_tax: bool


@dataclass(frozen=True)
class TaxReadiness:
    applies: str  # the tax on the next invoice, and why
    problems: tuple[str, ...] = field(default=())

    @property
    def ready(self) -> bool:
        return not self.problems


@functools.lru_cache(maxsize=1024)
def _country_name(country: str, language: str | None) -> str:
    # Looked up for thousands of accounts at once (the home page's count): the lookup goes
    # through translations each time.
    return str(countries.name(country)) or country


def _place(country: str, state: str) -> str:
    name = _country_name(country, get_language())
    return f"{name}, {state}" if state else name


def tax_readiness(
    account: Account,
    *,
    tax_ids: Iterable[tuple[str, str]],
    contracts: Iterable[ContractTax],
    rules: Rules,
    today: date,
) -> TaxReadiness:
    """The readiness of one account, from what was read for it (no queries)."""
    contracts = list(contracts)
    tax_ids = list(tax_ids)
    on_stripe_tax = [c for c in contracts if c.stripe_tax]
    on_rules = [c for c in contracts if not c.stripe_tax]
    decision = account_tax_decision(
        account, stripe_tax=bool(on_stripe_tax and not on_rules), rules=rules
    )
    country, state = decision.country, decision.state
    problems: list[str] = []

    if country == "US" and not state:
        problems.append(
            "US customer without a state: US sales tax depends on the state; add it to the "
            "billing address."
        )
    for tax_type, value in tax_ids:
        id_country = tax_id_country(tax_type, value)
        if id_country and id_country != country:
            problems.append(
                f"Tax ID {value} belongs to {_place(id_country, '')}, but the billing country "
                f"is {_place(country, '')}: one of the two is wrong."
            )

    match decision.treatment:
        case TaxTreatment.EXEMPT:
            evidence = account.exemption_certificate.strip()
            until = account.exemption_valid_until
            starts = account.exemption_valid_from
            if not evidence:
                problems.append(
                    "Marked tax-exempt without evidence: add the exemption certificate's "
                    "reference and its validity, or remove the exemption."
                )
            elif until and until < today:
                problems.append(
                    f"Tax exemption evidence {evidence} expired on {until.isoformat()}: the "
                    "next invoice would be issued without tax on expired evidence."
                )
            elif starts and starts > today:
                problems.append(
                    f"Tax exemption evidence {evidence} is valid only from {starts.isoformat()}."
                )
            validity = f", valid until {until.isoformat()}" if until else ""
            applies = (
                f"No tax: exempt (evidence {evidence}{validity})" if evidence else "No tax: exempt"
            )
            return TaxReadiness(applies, tuple(problems))
        case TaxTreatment.REVERSE_CHARGE:
            if country in EU_COUNTRIES and not any(t == "eu_vat" for t, _ in tax_ids):
                problems.append(
                    "Reverse charge without a VAT ID: an EU business customer's invoice under "
                    "reverse charge must show its VAT number, and none is on file."
                )
            return TaxReadiness(
                "No tax: reverse charge (the customer accounts for the VAT)", tuple(problems)
            )
        case TaxTreatment.STRIPE_TAX:
            return TaxReadiness(
                "Stripe Tax calculates it on each invoice (contract "
                f"{', '.join(c.number for c in on_stripe_tax)})",
                tuple(problems),
            )
        case TaxTreatment.NO_RULE if country == "US" and not state:
            return TaxReadiness("None found: the state decides", tuple(problems))
        case TaxTreatment.NO_RULE:
            problems.append(
                f"No tax rule for {_place(country, state)} and no contract on Stripe Tax: "
                "invoices would carry no tax. Add a rule under Tax settings, or put the contract "
                "on Stripe Tax."
            )
            return TaxReadiness("None found", tuple(problems))
    rule = decision.rule
    if rule is None:  # only TaxTreatment.RULE is left, and it comes with its rule
        raise AssertionError(decision)
    rate = rule.rate
    kind = "included in prices" if rate.inclusive else "added to prices"
    applies = (
        f"{rate.display_name} {rate.rate_text} ({kind}), by the rule for "
        f"{_place(str(rule.country), rule.state)} in force since {rule.valid_from.isoformat()}"
    )
    if not rate.active:
        problems.append(
            f"The rule for {_place(str(rule.country), rule.state)} names an archived rate "
            f"({rate}): point it at the rate that replaced it."
        )
    for contract in on_rules:
        if contract.prices_include_tax != rate.inclusive:
            contract_says = "include" if contract.prices_include_tax else "exclude"
            rule_says = "included in" if rate.inclusive else "added to"
            problems.append(
                f"Contract {contract.number}'s prices {contract_says} tax, but the rate of its "
                f"rule ({rate}) is {rule_says} prices: the invoice total would be wrong."
            )
    return TaxReadiness(applies, tuple(problems))


def tax_readiness_html(readiness: TaxReadiness) -> str:
    """The readiness as the account and contract pages show it."""
    if readiness.ready:
        return format_html("{} <strong>Ready.</strong>", readiness.applies)
    return format_html(
        "{}<ul>{}</ul>",
        readiness.applies,
        format_html_join("", '<li class="errornote">{}</li>', ((p,) for p in readiness.problems)),
    )
