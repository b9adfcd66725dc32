"""Which tax an invoice of a customer carries: the one decision, made here and only here.

The push (each schedule phase's tax rates), invoice review (the tax a draft should carry) and
the readiness check (what the next invoice carries, and what is wrong) all ask `tax_decision`,
so they can never disagree on the order of the rules:

1. an exempt customer pays no tax; a reverse-charge customer accounts for it themselves;
2. under Stripe Tax, Stripe calculates it on each invoice;
3. otherwise the rate of our rule in force where the customer is billed (a state's own rule
   before its country's);
4. no such rule: nothing is charged, which is a problem to fix, not a choice.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from django.db.models import Q

from billing.tax.models import TaxRate, TaxRule
from customers.models import Account

Rules = Mapping[tuple[str, str], TaxRule]


class TaxTreatment(StrEnum):
    EXEMPT = "exempt"
    REVERSE_CHARGE = "reverse_charge"
    STRIPE_TAX = "stripe_tax"
    RULE = "rule"
    NO_RULE = "no_rule"


@dataclass(frozen=True)
class TaxDecision:
    treatment: TaxTreatment
    country: str
    state: str  # upper case; "" for the whole country
    rule: TaxRule | None = None  # the rule whose rate applies (treatment RULE)

    @property
    def rate(self) -> TaxRate | None:
        return self.rule.rate if self.rule is not None else None


class RulesInForce(Mapping[tuple[str, str], TaxRule]):
    """(country, state or "") -> the rule in force on a day, read in one query the first time
    a decision needs a rule: one for exempt or reverse-charge customers, or under Stripe Tax,
    reads none. One instance serves any number of accounts (the readiness of a whole list)."""

    def __init__(self, day: date) -> None:
        self.day = day
        self._rules: dict[tuple[str, str], TaxRule] | None = None

    def _loaded(self) -> dict[tuple[str, str], TaxRule]:
        if self._rules is None:
            rules = TaxRule.objects.select_related("rate").filter(
                Q(valid_until__isnull=True) | Q(valid_until__gte=self.day),
                valid_from__lte=self.day,
            )
            self._rules = {(str(rule.country), rule.state): rule for rule in rules}
        return self._rules

    def __getitem__(self, place: tuple[str, str]) -> TaxRule:
        return self._loaded()[place]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())


def rules_in_force(day: date) -> RulesInForce:
    return RulesInForce(day)


def rule_for(rules: Rules, country: str, state: str) -> TaxRule | None:
    """A state's own rule, else the country's."""
    return (state and rules.get((country, state))) or rules.get((country, ""))


def tax_decision(
    *, exemption: str, stripe_tax: bool, country: str, state: str, rules: Rules
) -> TaxDecision:
    """The tax of a customer's invoice: `exemption` is the account's tax exemption, `stripe_tax`
    whether Stripe Tax calculates it (the contract's tax mode), `rules` those in force on the
    day that counts (see rules_in_force)."""
    country, state = str(country), state.strip().upper()
    if exemption == Account.TaxExemption.EXEMPT:
        return TaxDecision(TaxTreatment.EXEMPT, country, state)
    if exemption == Account.TaxExemption.REVERSE:
        return TaxDecision(TaxTreatment.REVERSE_CHARGE, country, state)
    if stripe_tax:
        return TaxDecision(TaxTreatment.STRIPE_TAX, country, state)
    rule = rule_for(rules, country, state)
    if rule is None:
        return TaxDecision(TaxTreatment.NO_RULE, country, state)
    return TaxDecision(TaxTreatment.RULE, country, state, rule)


def account_tax_decision(account: Account, *, stripe_tax: bool, rules: Rules) -> TaxDecision:
    """The decision for an account, where it is billed."""
    return tax_decision(
        exemption=account.tax_exemption,
        stripe_tax=stripe_tax,
        country=str(account.billing_country),
        state=account.state,
        rules=rules,
    )
