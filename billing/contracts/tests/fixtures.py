"""Fixtures of the Stripe push tests: a contract with every pricing model."""

from datetime import date
from decimal import Decimal

import pytest
import stripe
from django.conf import settings

from billing.contracts.models import Contract
from billing.contracts.services import contract_approve, contract_submit
from billing.contracts.tests.factories import (
    ContractFactory,
    ContractLineFactory,
    PricePhaseFactory,
    PriceTierFactory,
)


@pytest.fixture
def ramp_contract(account, manager, finance):
    """Three years: seats ramping 50 -> 80 -> 120 at a falling price, a graduated API line,
    a flat support fee, and usage with 10,000 GB included."""
    contract = ContractFactory(
        account=account,
        created_by=manager,
        start_date=date(2026, 1, 1),
        end_date=date(2028, 12, 31),
        currency="EUR",
        billing_frequency=Contract.BillingFrequency.QUARTERLY,
        collection_method=Contract.CollectionMethod.SEND_INVOICE,
        payment_terms_days=30,
        auto_renew=True,
    )
    seats = ContractLineFactory(contract=contract, key="seats", pricing_model="per_unit")
    for start, end, quantity, price in (
        (date(2026, 1, 1), date(2026, 12, 31), 50, "30.00"),
        (date(2027, 1, 1), date(2027, 12, 31), 80, "27.50"),
        (date(2028, 1, 1), date(2028, 12, 31), 120, "25.10"),
    ):
        PricePhaseFactory(
            line=seats, start_date=start, end_date=end, quantity=quantity, unit_amount=price
        )
    api = ContractLineFactory(contract=contract, key="api", pricing_model="graduated")
    tiered = PricePhaseFactory(line=api, quantity=2000, unit_amount=0)
    PriceTierFactory(phase=tiered, up_to=1000, unit_amount=Decimal("0.05"), flat_amount=10)
    PriceTierFactory(phase=tiered, up_to=None, unit_amount=Decimal("0.01"))
    support = ContractLineFactory(contract=contract, key="support", pricing_model="flat")
    PricePhaseFactory(line=support, flat_amount=Decimal("1500.00"), unit_amount=0, quantity=0)
    storage = ContractLineFactory(
        contract=contract, key="storage", pricing_model="usage", metric="storage_gb"
    )
    PricePhaseFactory(line=storage, unit_amount=Decimal("0.02"), included_units=10_000)
    contract_submit(contract=contract, by=manager)
    contract_approve(contract=contract, by=finance)
    return Contract.objects.get(pk=contract.pk)


def contract_prices(contract: Contract) -> list[stripe.Price]:
    """The contract's prices in the Stripe stand-in, found by their metadata."""
    return [
        p
        for p in stripe.Price.list(
            limit=100, expand=["data.tiers"], api_key=settings.STRIPE_SECRET_KEY
        ).auto_paging_iter()
        if p.metadata.get("contract") == contract.number
    ]
