from datetime import date
from decimal import Decimal

import factory

from billing.catalog.models import CatalogItem
from billing.contracts.models import Contract, ContractLine, PricePhase, PriceTier
from customers.tests.factories import AccountFactory


class CatalogItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CatalogItem
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"item-{n}")
    name = factory.Sequence(lambda n: f"Product {n}")
    unit_label = "seat"


class ContractFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contract

    number = factory.Sequence(lambda n: f"C-2026-{n + 1:05d}")
    account = factory.SubFactory(AccountFactory)
    start_date = date(2026, 1, 1)
    end_date = date(2028, 12, 31)
    currency = "EUR"
    billing_frequency = Contract.BillingFrequency.MONTHLY
    created_by = factory.LazyAttribute(lambda c: c.account.account_manager)


class ContractLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContractLine

    contract = factory.SubFactory(ContractFactory)
    key = factory.Sequence(lambda n: f"line-{n + 1}")
    item = factory.SubFactory(CatalogItemFactory)
    pricing_model = "per_unit"


class PricePhaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PricePhase

    line = factory.SubFactory(ContractLineFactory)
    unit_amount = Decimal("20.00")
    quantity = 100


class PriceTierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PriceTier

    phase = factory.SubFactory(PricePhaseFactory)
    unit_amount = Decimal("10.00")


def seats_contract(**kwargs: object) -> Contract:
    """A valid draft: 100 seats at 20.00 EUR a month over 2026-2028."""
    contract = ContractFactory(**kwargs)
    PricePhaseFactory(line=ContractLineFactory(contract=contract))
    return contract
