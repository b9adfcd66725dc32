"""Demo catalog and contracts: contracts in every status and pricing model, built through the
same services people use. Safe to run again: what exists (by catalog code, contract number) is
kept."""

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q

from backoffice.models import User
from billing.catalog.models import CatalogItem, ListPrice
from billing.contracts import services
from billing.contracts.models import Contract, ContractLine, PricePhase, PriceTier
from customers.models import Account
from demo.customers import demo_accounts_more_ensure

D = Decimal


# code -> (name, unit label, list prices per currency, per unit and billing period)
DEMO_CATALOG: dict[str, tuple[str, str, dict[str, str]]] = {
    "seats": ("Seats", "seat", {"USD": "30", "EUR": "28", "GBP": "24", "JPY": "4000"}),
    "platform": ("Platform fee", "", {}),
    "api-calls": ("API calls", "API call", {"USD": "0.005", "EUR": "0.005", "GBP": "0.004"}),
    "storage": ("Storage", "GB", {"USD": "0.10", "EUR": "0.09", "JPY": "15"}),
    "support": ("Premium support", "", {}),
}

TERM_START = date(2026, 1, 1)
TERM_END = date(2028, 12, 31)


def demo_catalog_ensure() -> dict[str, CatalogItem]:
    items = {}
    for code, (name, unit, prices) in DEMO_CATALOG.items():
        item, _ = CatalogItem.objects.get_or_create(
            code=code, defaults={"name": name, "unit_label": unit}
        )
        for currency, amount in prices.items():
            ListPrice.objects.get_or_create(
                item=item, currency=currency, defaults={"unit_amount": D(amount)}
            )
        items[code] = item
    return items


# Contract specs: number -> what to build. Lines are (item, model, metric, phases), each
# phase (start, end, unit, flat, quantity, included, tiers), tiers (up_to, unit, flat).
def _phase(
    unit: str = "0",
    flat: str = "0",
    quantity: int = 0,
    included: int = 0,
    start: date | None = None,
    end: date | None = None,
    tiers: tuple[tuple[int | None, str, str], ...] = (),
) -> dict[str, Any]:
    return {
        "start_date": start,
        "end_date": end,
        "unit_amount": D(unit),
        "flat_amount": D(flat),
        "quantity": quantity,
        "included_units": included,
        "tiers": tiers,
    }


RAMP_Y1 = (TERM_START, date(2026, 12, 31))
RAMP_Y2 = (date(2027, 1, 1), date(2027, 12, 31))
RAMP_Y3 = (date(2028, 1, 1), None)
GRADUATED = ((100, "10", "0"), (500, "8", "0"), (None, "6", "0"))

DEMO_CONTRACTS: list[dict[str, Any]] = [
    {
        "number": "C-2026-00001",
        "account": "CRM-0001",
        "currency": "USD",
        "end": "active",
        "po": "PO-NW-7781",
        "lines": [
            ("seats", "per_unit", "", [_phase(unit="25.00", quantity=500)]),
            ("platform", "flat", "", [_phase(flat="2000.00")]),
        ],
    },
    {
        "number": "C-2026-00002",
        "account": "CRM-0002",
        "currency": "EUR",
        "end": "amended",
        # Expanded from July: 1,000 seats in 2026, signed in June.
        "amend": (date(2026, 7, 1), date(2026, 6, 12), {"seats": 1000}),
        "lines": [
            (
                "seats",
                "graduated",
                "",
                [
                    _phase(quantity=800, start=RAMP_Y1[0], end=RAMP_Y1[1], tiers=GRADUATED),
                    _phase(quantity=1200, start=RAMP_Y2[0], end=RAMP_Y2[1], tiers=GRADUATED),
                    _phase(quantity=1500, start=RAMP_Y3[0], tiers=GRADUATED),
                ],
            )
        ],
    },
    {
        "number": "C-2026-00003",
        "account": "CRM-0003",
        "currency": "JPY",
        "end": "active",
        "frequency": 3,
        "lines": [
            (
                "storage",
                "volume",
                "storage_gb",
                [_phase(tiers=((1000, "20", "0"), (10000, "15", "0"), (None, "12", "5000")))],
            )
        ],
    },
    {
        "number": "C-2026-00004",
        "account": "CRM-0004",
        "currency": "GBP",
        "end": "active",
        "commit": "60000.00",
        "frequency": 3,
        "lines": [
            ("api-calls", "usage", "api_calls", [_phase(unit="0.0035", included=1_000_000)]),
            ("support", "flat", "", [_phase(flat="1500.00")]),
        ],
    },
    {
        "number": "C-2026-00005",
        "account": "CRM-0005",
        "currency": "BHD",
        "end": "pending",
        "frequency": 12,
        "lines": [("seats", "per_unit", "", [_phase(unit="12.345", quantity=40)])],
    },
    # Seats in EUR at three prices, so that an account's rate shows beside the others': one
    # cut from 80 to 60 seats from September (signed in August).
    {
        "number": "C-2026-00018",
        "account": "CRM-0027",
        "currency": "EUR",
        "end": "amended",
        "amend": (date(2026, 9, 1), date(2026, 8, 14), {"seats": 60}),
        "lines": [("seats", "per_unit", "", [_phase(unit="26.00", quantity=80)])],
    },
    {
        "number": "C-2026-00019",
        "account": "CRM-0010",
        "currency": "EUR",
        "end": "active",
        "lines": [("seats", "per_unit", "", [_phase(unit="27.00", quantity=40)])],
    },
    {
        "number": "C-2026-00020",
        "account": "CRM-0019",
        "currency": "EUR",
        "end": "active",
        "lines": [("seats", "per_unit", "", [_phase(unit="28.00", quantity=25)])],
    },
    # Running since July 2025, before the demo's year of billing: seats and a platform fee in
    # BHD, billed monthly.
    {
        "number": "C-2025-00001",
        "account": "CRM-0005",
        "currency": "BHD",
        "end": "active",
        "start": date(2025, 7, 1),
        "finish": date(2027, 6, 30),
        "lines": [
            ("seats", "per_unit", "", [_phase(unit="3.125", quantity=60)]),
            ("platform", "flat", "", [_phase(flat="45.750")]),
        ],
    },
    {
        "number": "C-2026-00006",
        "account": "CRM-0006",
        "currency": "CAD",
        "end": "draft",
        "lines": [("platform", "flat", "", [_phase(flat="4500.00")])],
    },
    {
        "number": "C-2026-00007",
        "account": "CRM-0007",
        "currency": "AUD",
        "end": "sent_back",
        "lines": [("seats", "per_unit", "", [_phase(unit="9.00", quantity=250)])],
    },
    {
        "number": "C-2026-00008",
        "account": "CRM-0008",
        "currency": "EUR",
        "end": "cancelled",
        "lines": [("seats", "per_unit", "", [_phase(unit="26.00", quantity=60)])],
    },
    {
        "number": "C-2026-00009",
        "account": "CRM-0021",
        "currency": "USD",
        "end": "terminated",
        "lines": [("seats", "per_unit", "", [_phase(unit="30.00", quantity=120)])],
    },
    {
        "number": "C-2024-00001",
        "account": "CRM-0022",
        "currency": "USD",
        "end": "expired",
        "start": date(2024, 1, 1),
        "finish": date(2025, 12, 31),
        "lines": [("platform", "flat", "", [_phase(flat="1200.00")])],
    },
    {
        "number": "C-2026-00010",
        "account": "CRM-0025",
        "currency": "JPY",
        "end": "active",
        "lines": [
            (
                "seats",
                "per_unit",
                "",
                [
                    _phase(unit="3500", quantity=300, start=RAMP_Y1[0], end=RAMP_Y1[1]),
                    _phase(unit="3300", quantity=450, start=RAMP_Y2[0], end=RAMP_Y2[1]),
                    _phase(unit="3100", quantity=600, start=RAMP_Y3[0]),
                ],
            )
        ],
    },
    {
        "number": "C-2026-00011",
        "account": "CRM-0029",
        "currency": "GBP",
        "end": "active",
        "frequency": 12,
        "renew": 12,
        "lines": [
            (
                "seats",
                "volume",
                "",
                [
                    _phase(
                        quantity=350, tiers=((100, "22", "0"), (250, "20", "0"), (None, "18", "0"))
                    )
                ],
            )
        ],
    },
    {
        "number": "C-2026-00012",
        "account": "CRM-0011",
        "currency": "INR",
        "end": "active",
        "lines": [
            (
                "api-calls",
                "graduated",
                "api_calls",
                [
                    _phase(
                        tiers=(
                            (1_000_000, "0", "0"),
                            (10_000_000, "0.25", "0"),
                            (None, "0.15", "0"),
                        )
                    )
                ],
            )
        ],
    },
    {
        "number": "C-2026-00013",
        "account": "CRM-0026",
        "currency": "KWD",
        "end": "pending",
        "lines": [("platform", "flat", "", [_phase(flat="950.125")])],
    },
    {
        "number": "C-2026-00014",
        "account": "CRM-0016",
        "currency": "CHF",
        "end": "active",
        "frequency": 6,
        "lines": [
            ("seats", "per_unit", "", [_phase(unit="31.50", quantity=220)]),
            ("support", "flat", "", [_phase(flat="3000.00")]),
        ],
    },
    {
        "number": "C-2026-00015",
        "account": "CRM-0015",
        "currency": "KRW",
        "end": "draft",
        "lines": [("seats", "per_unit", "", [_phase(unit="32000", quantity=150)])],
    },
    # The contracts the demo's draft invoices bill (demo/invoices.py).
    {
        "number": "C-2026-00901",
        "account": "CRM-0033",
        "currency": "EUR",
        "end": "active",
        "lines": [
            (
                "seats",
                "per_unit",
                "",
                [
                    _phase(unit="20.00", quantity=100, start=RAMP_Y1[0], end=RAMP_Y1[1]),
                    _phase(unit="18.00", quantity=120, start=RAMP_Y2[0], end=RAMP_Y2[1]),
                    _phase(unit="17.00", quantity=150, start=RAMP_Y3[0]),
                ],
            ),
            ("platform", "flat", "", [_phase(flat="500.00")]),
        ],
    },
    {
        "number": "C-2026-00902",
        "account": "CRM-0035",
        "currency": "JPY",
        "end": "active",
        "lines": [
            ("seats", "per_unit", "", [_phase(unit="1999", quantity=100)]),
            ("platform", "flat", "", [_phase(flat="50000")]),
        ],
    },
    {
        "number": "C-2026-00903",
        "account": "CRM-0036",
        "currency": "BHD",
        "end": "active",
        "lines": [
            ("seats", "per_unit", "", [_phase(unit="2.125", quantity=100)]),
            ("platform", "flat", "", [_phase(flat="50.500")]),
        ],
    },
    {
        "number": "C-2026-00904",
        "account": "CRM-0038",
        "currency": "EUR",
        "end": "active",
        "commit": "1200.00",
        "lines": [("storage", "usage", "storage_gb", [_phase(unit="0.10")])],
    },
    # Signed mid-month, billed from the 1st: its first and last months are partial.
    {
        "number": "C-2026-00905",
        "account": "CRM-0032",
        "currency": "EUR",
        "end": "active",
        "start": date(2026, 3, 15),
        "finish": date(2027, 3, 14),
        "anchor": date(2026, 4, 1),
        "lines": [
            ("seats", "per_unit", "", [_phase(unit="20.00", quantity=100)]),
            ("platform", "flat", "", [_phase(flat="500.00")]),
        ],
    },
    # The same customer's second contract: a fee in advance, storage in arrears.
    {
        "number": "C-2026-00906",
        "account": "CRM-0032",
        "currency": "EUR",
        "end": "active",
        "lines": [
            ("support", "flat", "", [_phase(flat="300.00")]),
            ("storage", "usage", "storage_gb", [_phase(unit="0.10")]),
        ],
    },
    # A Texas customer exempt from sales tax, whose evidence ran out at the end of 2025.
    {
        "number": "C-2026-00908",
        "account": "CRM-0022",
        "currency": "USD",
        "end": "active",
        "lines": [("seats", "per_unit", "", [_phase(unit="30.00", quantity=20)])],
    },
    # A New York customer exempt from sales tax (valid evidence), taxed by Stripe Tax.
    {
        "number": "C-2026-00909",
        "account": "CRM-0023",
        "currency": "USD",
        "end": "active",
        "tax_mode": "stripe_tax",
        "lines": [("seats", "per_unit", "", [_phase(unit="30.00", quantity=40)])],
    },
    # Signed in May 2026 and billed from June: the demo year's new customer, on net 45.
    {
        "number": "C-2026-00016",
        "account": "CRM-0039",
        "currency": "CAD",
        "end": "active",
        "start": date(2026, 6, 1),
        "finish": date(2028, 5, 31),
        "terms": 45,
        "lines": [("seats", "per_unit", "", [_phase(unit="18.00", quantity=150)])],
    },
    # Terminated at the end of September 2026.
    {
        "number": "C-2026-00907",
        "account": "CRM-0031",
        "currency": "USD",
        "end": "terminated",
        "lines": [("seats", "per_unit", "", [_phase(unit="30.00", quantity=50)])],
    },
]


def _build(spec: dict[str, Any], items: dict[str, CatalogItem], author: User) -> Contract:
    account = Account.objects.get(external_ref=spec["account"])
    contract = Contract.objects.create(
        number=spec["number"],
        account=account,
        currency=spec["currency"],
        start_date=spec.get("start", TERM_START),
        end_date=spec.get("finish", TERM_END),
        signed_date=spec.get("start", TERM_START) - timedelta(days=14),
        billing_frequency=spec.get("frequency", 1),
        payment_terms_days=spec.get("terms", 30),
        billing_anchor_date=spec.get("anchor"),
        auto_renew=bool(spec.get("renew")),
        renewal_term_months=spec.get("renew"),
        minimum_commit=D(spec["commit"]) if spec.get("commit") else None,
        tax_mode=spec.get("tax_mode", Contract.TaxMode.RULES),
        po_number=spec.get("po", ""),
        created_by=author,
    )
    for position, (code, model, metric, phases) in enumerate(spec["lines"], start=1):
        line = ContractLine.objects.create(
            contract=contract,
            key=code,
            position=position,
            item=items[code],
            pricing_model=model,
            metric=metric,
        )
        for phase in phases:
            tiers = phase["tiers"]
            saved = PricePhase.objects.create(
                line=line, **{k: v for k, v in phase.items() if k != "tiers"}
            )
            PriceTier.objects.bulk_create(
                PriceTier(phase=saved, up_to=up_to, unit_amount=D(unit), flat_amount=D(flat))
                for up_to, unit, flat in tiers
            )
    return services.contract_values_refresh(contract)


def _advance(
    contract: Contract,
    end: str,
    author: User,
    approver: User,
    amend: tuple[date, date, dict[str, int]] | None = None,
) -> None:
    if end == "draft":
        return
    services.contract_submit(contract=contract, by=author)
    if end == "pending":
        return
    if end == "sent_back":
        services.contract_send_back(
            contract=contract,
            by=approver,
            reason="The seat price is below the regional floor of 10.00 AUD: please check "
            "with deal desk.",
        )
        return
    if end == "cancelled":
        services.contract_cancel(
            contract=contract, by=author, reason="Customer chose another plan."
        )
        return
    services.contract_approve(contract=contract, by=approver)
    if end == "terminated":
        services.contract_terminate(
            contract=contract,
            by=approver,
            end_date=date(2026, 9, 30),
            reason="Customer acquired; contract bought out.",
        )
    elif end == "expired":
        services.contracts_renew_or_expire(today=date(2026, 1, 1))
    elif end == "amended":
        if amend is None:
            raise ValueError(f"Contract {contract.number} is amended: say how (its 'amend').")
        effective, signed, seats = amend
        amendment = services.contract_amend(contract=contract, by=author, effective_date=effective)
        # The seats of the phase in force on the effective day (a ramp's later years keep
        # theirs); signed when agreed (the copy keeps the original's date).
        in_force = (Q(start_date__isnull=True) | Q(start_date__lte=effective)) & (
            Q(end_date__isnull=True) | Q(end_date__gte=effective)
        )
        for key, quantity in seats.items():
            PricePhase.objects.filter(in_force, line__contract=amendment, line__key=key).update(
                quantity=quantity
            )
        Contract.objects.filter(pk=amendment.pk).update(signed_date=signed)
        services.contract_submit(contract=amendment, by=author)
        services.contract_approve(contract=amendment, by=approver)


@transaction.atomic
def demo_contracts_ensure(managers: dict[str, User], approver: User) -> None:
    items = demo_catalog_ensure()
    demo_accounts_more_ensure(managers)
    for spec in DEMO_CONTRACTS:
        if Contract.objects.filter(number=spec["number"]).exists():
            continue
        account = Account.objects.get(external_ref=spec["account"])
        author = account.account_manager or approver
        contract = _build(spec, items, author)
        _advance(contract, spec["end"], author, approver, spec.get("amend"))
