"""Payments' reads: an account's payment methods, mandates, charges and unpaid invoices from
the Stripe mirror, and what its accepted methods still lack."""

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from djstripe.models import Charge, Customer, Invoice, Mandate, PaymentMethod

from billing.contracts.models import Contract
from billing.money import format_minor
from billing.pricing import invoice_due_day, stripe_moment
from customers.models import Account
from customers.payment_methods import debit_methods, payment_method_name

# Contracts that bill, or will once approved: their currency is one the account is billed in.
BILLING_CONTRACTS = (
    Contract.Status.DRAFT,
    Contract.Status.PENDING_APPROVAL,
    Contract.Status.ACTIVE,
)


def account_contract_currencies(account: Account) -> set[str]:
    """The currencies of the account's contracts that bill or are about to (registered with
    customers.payment_methods in PaymentsConfig.ready, for the account's check)."""
    return set(
        Contract.objects.filter(account=account, status__in=BILLING_CONTRACTS)
        .values_list("currency", flat=True)
        .distinct()
    )


# --- An account's payments, for its page ---------------------------------------------------

LAST_CHARGES = 10


@dataclass(frozen=True)
class SavedMethod:
    stripe_id: str
    type: str
    label: str  # "Visa •••• 4242", "STRIPE TEST BANK •••• 6789"
    expires: str  # "12/2027" for cards, "" otherwise
    is_default: bool


@dataclass(frozen=True)
class MandateRow:
    stripe_id: str
    type: str  # the payment method type it authorises: us_bank_account, sepa_debit, ...
    status: str  # Stripe's: active, inactive, pending
    payment_method: str


@dataclass(frozen=True)
class ChargeRow:
    stripe_id: str
    created: datetime | None
    amount: str  # as money, in the currency's precision
    status: str
    outcome: str  # Stripe's outcome: its seller message, or its type
    failure: str  # failure code and message, "" when it succeeded
    method: str


@dataclass(frozen=True)
class InvoiceRow:
    stripe_id: str
    number: str
    due: date | None
    amount_remaining: str
    overdue: bool


@dataclass(frozen=True)
class AccountPayments:
    methods: list[SavedMethod] = field(default_factory=list)
    mandates: list[MandateRow] = field(default_factory=list)
    charges: list[ChargeRow] = field(default_factory=list)
    open_invoices: list[InvoiceRow] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # payment readiness


def _method_label(data: dict[str, Any]) -> tuple[str, str]:
    kind = data.get("type") or ""
    details = data.get(kind) or {}
    last4 = details.get("last4") or ""
    if kind == "card":
        brand = str(details.get("display_brand") or details.get("brand") or "card")
        expires = (
            f"{int(details['exp_month']):02d}/{details['exp_year']}"
            if details.get("exp_month") and details.get("exp_year")
            else ""
        )
        return f"{brand.replace('_', ' ').title()} •••• {last4}", expires
    bank = details.get("bank_name") or details.get("bank_code") or details.get("sort_code") or ""
    name = payment_method_name(kind)
    return " ".join(
        p for p in (name, f"({bank})" if bank else "", f"•••• {last4}" if last4 else "") if p
    ), ""


def payment_readiness(
    accepted: list[str], methods: list[SavedMethod], mandates: list[MandateRow]
) -> list[str]:
    """What stops Stripe collecting by a debit the account accepts: no active mandate for it
    (the customer has not authorised debits from their bank account yet)."""
    active = {m.type for m in mandates if m.status == "active"}
    saved = {m.type for m in methods}
    problems = []
    for code in debit_methods(accepted):
        if code in active:
            continue
        name = payment_method_name(code)
        why = (
            "its mandate is not active"
            if code in saved
            else "no bank account of that kind is saved"
        )
        problems.append(
            f"Accepts {name} but no active mandate ({why}): Stripe cannot debit the customer "
            "until they authorise it; send them the payment page or take card meanwhile."
        )
    return problems


def account_payments(account: Account, *, today: date | None = None) -> AccountPayments:
    """The account's saved payment methods, mandates, last charges and open invoices from the
    Stripe mirror, and its payment readiness: five queries, whatever the numbers."""
    customer_id = account.stripe_customer_id  # type: ignore[attr-defined]
    accepted = list(account.accepted_payment_methods)
    if not customer_id:
        return AccountPayments(problems=payment_readiness(accepted, [], []))
    today = today or timezone.localdate()
    customer = Customer.objects.filter(id=customer_id).values_list("stripe_data", flat=True).first()
    default = ((customer or {}).get("invoice_settings") or {}).get("default_payment_method")
    methods = []
    labels = {}
    for data in (
        PaymentMethod.objects.filter(customer_id=customer_id)
        .order_by("-created")
        .values_list("stripe_data", flat=True)
    ):
        label, expires = _method_label(data)
        labels[data["id"]] = label
        methods.append(
            SavedMethod(data["id"], data.get("type") or "", label, expires, data["id"] == default)
        )
    mandates = [
        MandateRow(
            data["id"],
            (data.get("payment_method_details") or {}).get("type") or "",
            data.get("status") or "",
            labels.get(method_id, method_id),
        )
        for data, method_id in Mandate.objects.filter(payment_method__customer_id=customer_id)
        .order_by("-created")
        .values_list("stripe_data", "payment_method_id")
    ]
    charges = []
    for data in (
        Charge.objects.filter(customer_id=customer_id)
        .order_by("-created")[:LAST_CHARGES]
        .values_list("stripe_data", flat=True)
    ):
        outcome = data.get("outcome") or {}
        failure = " ".join(
            str(p) for p in (data.get("failure_code"), data.get("failure_message")) if p
        )
        details = data.get("payment_method_details") or {}
        charges.append(
            ChargeRow(
                data["id"],
                stripe_moment(data.get("created")),
                format_minor(
                    int(data.get("amount") or 0), str(data.get("currency") or "usd").upper()
                ),
                str(data.get("status") or ""),
                str(outcome.get("seller_message") or outcome.get("type") or ""),
                failure,
                payment_method_name(str(details.get("type") or "")),
            )
        )
    open_invoices = []
    for data in (
        Invoice.objects.filter(customer_id=customer_id, stripe_data__status="open")
        .order_by("created")
        .values_list("stripe_data", flat=True)
    ):
        due = invoice_due_day(data)  # charged automatically: due when finalized
        open_invoices.append(
            InvoiceRow(
                data["id"],
                str(data.get("number") or ""),
                due,
                format_minor(
                    int(data.get("amount_remaining") or 0),
                    str(data.get("currency") or "usd").upper(),
                ),
                bool(due and due < today),
            )
        )
    return AccountPayments(
        methods=methods,
        mandates=mandates,
        charges=charges,
        open_invoices=open_invoices,
        problems=payment_readiness(accepted, methods, mandates),
    )


def accounts_without_debit_mandate(accounts: QuerySet[Account]) -> set[int]:
    """The accounts among `accounts` that accept a debit with no active mandate for it in the
    mirror (the accounts list's filter "payment readiness"): two queries, whatever the number."""
    wanting: dict[int, tuple[Any, set[str]]] = {}  # account -> (Stripe customer, debits)
    for pk, customer_id, codes in accounts.values_list(
        "pk", "stripe_customer_id", "accepted_payment_methods"
    ):
        debits = set(debit_methods(codes or []))
        if debits:
            wanting[pk] = (customer_id, debits)
    customers = {c for c, _ in wanting.values() if c}
    active: dict[str, set[str]] = {}
    for customer_id, data in Mandate.objects.filter(
        payment_method__customer_id__in=customers
    ).values_list("payment_method__customer_id", "stripe_data"):
        if data.get("status") == "active":
            kind = (data.get("payment_method_details") or {}).get("type") or ""
            active.setdefault(customer_id, set()).add(kind)
    return {
        pk
        for pk, (customer_id, debits) in wanting.items()
        if not debits <= active.get(customer_id or "", set())
    }
