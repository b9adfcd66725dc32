"""Is each customer ready to be taxed right? What tax its next invoice carries, and why, and
every contradiction in its tax settings, in words finance can act on.

`accounts_tax_readiness` reads everything for any number of accounts in five queries, so the
"tax not ready" filter works on the whole customer list.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.html import format_html, format_html_join
from django_countries import countries

from billing.models import Contract, TaxRule
from customers.models import Account
from customers.tax_ids import tax_id_country

EU_COUNTRIES = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()
)


@dataclass(frozen=True)
class ContractTax:
    number: str
    tax_mode: str
    prices_include_tax: bool


@dataclass(frozen=True)
class TaxReadiness:
    applies: str  # the tax on the next invoice, and why
    problems: tuple[str, ...] = field(default=())

    @property
    def ready(self) -> bool:
        return not self.problems


def _place(country: str, state: str) -> str:
    name = str(countries.name(country)) or country
    return f"{name}, {state}" if state else name


def rules_in_force(day: date) -> dict[tuple[str, str], TaxRule]:
    """(country, state or "") -> the rule in force on `day`; one query."""
    rules = TaxRule.objects.select_related("rate").filter(
        Q(valid_until__isnull=True) | Q(valid_until__gte=day), valid_from__lte=day
    )
    return {(str(rule.country), rule.state): rule for rule in rules}


def rule_for(rules: dict[tuple[str, str], TaxRule], country: str, state: str) -> TaxRule | None:
    """A state's own rule, else the country's."""
    return (state and rules.get((country, state))) or rules.get((country, ""))


def tax_readiness(
    account: Account,
    *,
    tax_ids: Iterable[tuple[str, str]],
    contracts: Iterable[ContractTax],
    rules: dict[tuple[str, str], TaxRule],
    today: date,
) -> TaxReadiness:
    """The readiness of one account, from what was read for it (no queries)."""
    country = str(account.billing_country)
    state = account.state.strip().upper()
    contracts = list(contracts)
    tax_ids = list(tax_ids)
    problems: list[str] = []
    rule = rule_for(rules, country, state)
    exemption = account.tax_exemption

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

    if exemption == Account.TaxExemption.EXEMPT:
        evidence = account.exemption_certificate.strip()
        until = account.exemption_valid_until
        starts = account.exemption_valid_from
        if not evidence:
            problems.append(
                "Marked tax-exempt without evidence: add the exemption certificate's reference "
                "and its validity, or remove the exemption."
            )
        elif until and until < today:
            problems.append(
                f"Tax exemption evidence {evidence} expired on {until.isoformat()}: the next "
                "invoice would be issued without tax on expired evidence."
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

    if exemption == Account.TaxExemption.REVERSE:
        if country in EU_COUNTRIES and not any(t == "eu_vat" for t, _ in tax_ids):
            problems.append(
                "Reverse charge without a VAT ID: an EU business customer's invoice under "
                "reverse charge must show its VAT number, and none is on file."
            )
        return TaxReadiness(
            "No tax: reverse charge (the customer accounts for the VAT)", tuple(problems)
        )

    on_stripe_tax = [c for c in contracts if c.tax_mode == Contract.TaxMode.STRIPE_TAX]
    on_rules = [c for c in contracts if c.tax_mode != Contract.TaxMode.STRIPE_TAX]
    if on_stripe_tax and not on_rules:
        return TaxReadiness(
            "Stripe Tax calculates it on each invoice (contract "
            f"{', '.join(c.number for c in on_stripe_tax)})",
            tuple(problems),
        )
    if rule is None and country == "US" and not state:
        return TaxReadiness("None found: the state decides", tuple(problems))
    if rule is None:
        problems.append(
            f"No tax rule for {_place(country, state)} and no contract on Stripe Tax: invoices "
            "would carry no tax. Add a rule under Tax settings, or put the contract on Stripe "
            "Tax."
        )
        return TaxReadiness("None found", tuple(problems))
    rate = rule.rate
    kind = "included in prices" if rate.inclusive else "added to prices"
    applies = (
        f"{rate.display_name} {rate.percentage.normalize():f}% ({kind}), by the rule for "
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


def accounts_tax_readiness(accounts: QuerySet[Account], *, today: date) -> dict[int, TaxReadiness]:
    """Readiness of every account in `accounts`, in a constant number of queries."""
    rows = list(accounts.prefetch_related("tax_ids"))
    contracts: dict[int, list[ContractTax]] = defaultdict(list)
    for account_id, number, mode, inclusive in Contract.objects.filter(
        account__in=[a.pk for a in rows], status=Contract.Status.ACTIVE
    ).values_list("account_id", "number", "tax_mode", "prices_include_tax"):
        contracts[account_id].append(ContractTax(number, mode, inclusive))
    rules = rules_in_force(today)
    return {
        account.pk: tax_readiness(
            account,
            tax_ids=[(t.type, t.value) for t in account.tax_ids.all()],
            contracts=contracts[account.pk],
            rules=rules,
            today=today,
        )
        for account in rows
    }


def tax_readiness_html(readiness: TaxReadiness) -> str:
    """The readiness as the account and contract pages show it."""
    if readiness.ready:
        return format_html("{} <strong>Ready.</strong>", readiness.applies)
    return format_html(
        "{}<ul>{}</ul>",
        readiness.applies,
        format_html_join("", '<li class="errornote">{}</li>', ((p,) for p in readiness.problems)),
    )


def account_tax_readiness(account: Account, *, today: date) -> TaxReadiness:
    readiness = accounts_tax_readiness(Account.objects.filter(pk=account.pk), today=today)
    return readiness[account.pk]


__all__: list[Any] = [
    "TaxReadiness",
    "account_tax_readiness",
    "accounts_tax_readiness",
    "rule_for",
    "rules_in_force",
    "tax_readiness",
    "tax_readiness_html",
]
