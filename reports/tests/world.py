"""A small billed world, figures worked out by hand: four accounts of three managers buying
the same seats in EUR, invoices finalized in the first half of 2026 in every status, written
to the mirror as Stripe sends them (the ledger follows through the mirror's hooks)."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import Group

from backoffice.roles import ACCOUNT_MANAGERS
from billing.catalog.models import CatalogItem
from billing.contracts.models import Contract
from billing.contracts.tests.factories import (
    ContractFactory,
    ContractLineFactory,
    PricePhaseFactory,
)
from customers.models import Account
from customers.tests.factories import AccountFactory, UserFactory
from reports.contracted import contracted_months_rebuild
from reports.models import BilledInvoice
from stripe_standin.store import stripe_fixture
from stripe_sync.mirror import Mirror
from stripe_sync.object_types import object_type

TODAY = date(2026, 6, 15)
H1 = (date(2026, 1, 1), date(2026, 6, 30))


def ts(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


@dataclass
class World:
    managers: dict[str, Any]
    accounts: dict[str, Account]
    contracts: dict[str, Contract]
    seats: CatalogItem


def build_world(finance: Any, manager: Any) -> World:
    managers = {"a": manager}
    for key in ("b", "c"):
        user = UserFactory(username=f"am-{key}")
        user.groups.add(Group.objects.get(name=ACCOUNT_MANAGERS))
        managers[key] = user
    seats = CatalogItem.objects.create(code="seats", name="Seats", unit_label="seat")
    plan = {  # account: (manager, country, seat price, seats)
        "bergmann": ("a", "DE", "20.00", 100),
        "dupont": ("b", "FR", "18.00", 50),
        "tanaka": ("b", "NL", "19.00", 10),
        "fourth": ("c", "DE", "25.00", 10),
    }
    mirror = Mirror()
    accounts, contracts = {}, {}
    for key, (who, country, price, quantity) in plan.items():
        customer = f"cus_{key}"
        mirror.write(
            object_type("customers"),
            [{"id": customer, "object": "customer", "name": key, "metadata": {}}],
            observed_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
        account = AccountFactory(
            legal_name=key.capitalize(),
            external_ref=f"CRM-{key}",
            billing_country=country,
            account_manager=managers[who],
        )
        Account.objects.filter(pk=account.pk).update(stripe_customer_id=customer)
        account.refresh_from_db()
        contract = ContractFactory(
            account=account,
            status=Contract.Status.ACTIVE,
            signed_date=date(2025, 12, 1) if key != "fourth" else date(2026, 2, 10),
            start_date=date(2026, 1, 1),
            end_date=date(2027, 12, 31),
            currency="EUR",
        )
        line = ContractLineFactory(contract=contract, key="seats", item=seats)
        PricePhaseFactory(
            line=line,
            start_date=date(2026, 1, 1),
            end_date=date(2026, 12, 31),
            unit_amount=Decimal(price),
            quantity=quantity,
            stripe_price_id=f"price_{key}_2026",
        )
        PricePhaseFactory(
            line=line,
            start_date=date(2027, 1, 1),
            end_date=date(2027, 12, 31),
            unit_amount=Decimal(price) + 2,
            quantity=quantity,
            stripe_price_id=f"price_{key}_2027",
        )
        accounts[key], contracts[key] = account, contract
    # Written by factories, not approved through the services (no contract_changed): their
    # contracted MRR rebuilt, as a deployment does after importing contracts.
    contracted_months_rebuild()
    return World(managers, accounts, contracts, seats)


def paid_ledger_invoice(
    stripe_invoice_id: str, account: Account, currency: str, day: date
) -> BilledInvoice:
    """An invoice written straight into the ledger (unsaved), paid, finalized on `day`, its
    own figures nothing: the reports that read its lines never read them."""
    return BilledInvoice(
        stripe_invoice_id=stripe_invoice_id,
        account=account,
        currency=currency,
        status=BilledInvoice.Status.PAID,
        finalized_on=day,
        subtotal=0,
        tax=0,
        total=0,
        amount_due=0,
        amount_paid=0,
        amount_remaining=0,
    )


def finalized_invoice(
    invoice_id: str,
    account: str,
    *,
    price: str,
    quantity: int,
    unit: int,  # cents
    month: int,
    status: str,
    paid: int | None = None,
    due: date | None = None,
) -> dict[str, Any]:
    """A finalized EUR invoice of one seats line, as Stripe sends it."""
    start = date(2026, month, 1)
    end = date(2026 + month // 12, month % 12 + 1, 1)
    amount = quantity * unit
    line = stripe_fixture("line_item")
    line.update(
        id=f"il_{invoice_id}",
        invoice=invoice_id,
        amount=amount,
        currency="eur",
        quantity=quantity,
        description="Seats",
        period={"start": ts(start), "end": ts(end)},
        pricing={
            "type": "price_details",
            "price_details": {"price": price, "product": "prod_seats"},
            "unit_amount_decimal": str(unit),
        },
        taxes=[],
        discount_amounts=[],
        pretax_credit_amounts=[],
        subscription=None,
        metadata={},
    )
    paid_amount = amount if status == "paid" else (paid or 0)
    remaining = 0 if status in ("paid", "void") else amount - paid_amount
    invoice = stripe_fixture("invoice")
    invoice.update(
        id=invoice_id,
        number=invoice_id.upper(),
        status=status,
        customer=f"cus_{account}",
        currency="eur",
        collection_method="send_invoice",
        created=ts(start),
        due_date=ts(due or start + timedelta(days=30)),
        period_start=ts(start),
        period_end=ts(end),
        subtotal=amount,
        total=amount,
        total_excluding_tax=amount,
        amount_due=amount,
        amount_paid=paid_amount,
        amount_remaining=remaining,
        subscription=None,
        charge=None,
        payment_intent=None,
        default_payment_method=None,
        status_transitions={
            "finalized_at": ts(start) + 3600,
            "paid_at": ts(start + timedelta(days=10)) if status == "paid" else None,
            "voided_at": ts(start + timedelta(days=2)) if status == "void" else None,
            "marked_uncollectible_at": None,
        },
    )
    invoice["lines"] = {"object": "list", "data": [line], "has_more": False, "url": "/v1/x"}
    return invoice


def billed_half_year() -> list[dict[str, Any]]:
    """Finalized in the first half of 2026; owed as worked out in the tests."""
    return [
        # Paid at the contract's 20.00: fair.
        finalized_invoice(
            "in_berg_03",
            "bergmann",
            price="price_bergmann_2026",
            quantity=100,
            unit=2000,
            month=3,
            status="paid",
        ),
        # April billed at the 2027 phase's 22.00: 200.00 over the contract.
        finalized_invoice(
            "in_berg_04",
            "bergmann",
            price="price_bergmann_2027",
            quantity=100,
            unit=2200,
            month=4,
            status="paid",
        ),
        # Voided: counts nowhere.
        finalized_invoice(
            "in_berg_05",
            "bergmann",
            price="price_bergmann_2026",
            quantity=25,
            unit=2000,
            month=5,
            status="void",
        ),
        # 900.00 open, due 30 April: 46 days past due on 15 June.
        finalized_invoice(
            "in_dup_03",
            "dupont",
            price="price_dupont_2026",
            quantity=50,
            unit=1800,
            month=3,
            status="open",
            due=date(2026, 4, 30),
        ),
        # 170.00 at 17.00 where the contract says 19.00 (under-billed by 20.00); 70.00 paid,
        # 100.00 owed, due 20 June: not yet due.
        finalized_invoice(
            "in_tan_05",
            "tanaka",
            price="price_tanaka_2026",
            quantity=10,
            unit=1700,
            month=5,
            status="open",
            paid=7000,
            due=date(2026, 6, 20),
        ),
        # 250.00 uncollectible, due 1 February: 134 days past due.
        finalized_invoice(
            "in_four_01",
            "fourth",
            price="price_fourth_2026",
            quantity=10,
            unit=2500,
            month=1,
            status="uncollectible",
            due=date(2026, 2, 1),
        ),
    ]


def mirror_invoices(invoices: list[dict[str, Any]], *, at: datetime | None = None) -> None:
    Mirror().write(
        object_type("invoices"), invoices, observed_at=at or datetime(2026, 6, 14, tzinfo=UTC)
    )
