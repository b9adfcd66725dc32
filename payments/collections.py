"""Collections: the invoices whose automatic payment failed, and "Retry payment now".

A failed payment is an open invoice collected automatically (`charge_automatically`) that
Stripe has tried to charge at least once (`attempt_count`) and that still owes something. Its
last failure is our own last retry's answer when we retried it, else the decline its payment
intent recorded (`last_payment_error`) as the mirror holds it.

A retry is a record of ours (PaymentRetry): its id keys the write (`POST
/v1/invoices/{id}/pay`), so the task running twice pays once; one retry is pending per invoice
at a time, so a second click is the first retry. Stripe's answer (paid, or declined with its
decline code) is recorded on it and the invoice is read again into the mirror.
"""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import stripe
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from djstripe.models import Invoice

from backoffice.history import history_save
from backoffice.models import User
from billing.money import from_stripe_amount
from billing.pricing import invoice_due_day, stripe_moment
from customers.models import Account
from customers.selectors import VIEW_ALL_ACCOUNTS, accounts_visible_to
from payments.models import PaymentRetry
from payments.tasks import payment_retry_task
from stripe_sync.client import StripeApi
from stripe_sync.mirror import Mirror
from stripe_sync.object_types import object_type
from stripe_sync.writes import PushRefused, push_after_commit, stripe_write

RETRY_PAYMENT = "payments.retry_payment"


@dataclass(frozen=True)
class FailedPayment:
    stripe_invoice_id: str
    number: str
    account: Account | None
    stripe_customer_id: str
    currency: str  # ISO, upper case
    amount_due: Decimal  # major units of `currency`
    attempt_count: int
    next_payment_attempt: datetime | None
    failure_code: str  # Stripe's decline code, or its error code
    failure_message: str
    days_overdue: int
    pending_retry: PaymentRetry | None


def _failed_invoices(user: User) -> QuerySet[Invoice]:
    invoices = Invoice.objects.filter(
        stripe_data__status="open",
        stripe_data__collection_method="charge_automatically",
        stripe_data__attempt_count__gt=0,
        stripe_data__amount_remaining__gt=0,
    )
    if not user.has_perm(VIEW_ALL_ACCOUNTS):
        # Only invoices of their own accounts' customers.
        invoices = invoices.filter(customer__backoffice_account__in=accounts_visible_to(user))
    return invoices.select_related("customer__backoffice_account", "payment_intent")


def failed_payments(user: User, *, today: date | None = None) -> list[FailedPayment]:
    """The failed payments `user` may see, the longest overdue first; three queries however
    many (invoices with their customer, account and payment intent; our pending and last
    retries)."""
    today = today or timezone.localdate()
    invoices = list(_failed_invoices(user))
    ids = [i.id for i in invoices]
    retries: dict[str, PaymentRetry] = {}
    for retry in PaymentRetry.objects.filter(stripe_invoice_id__in=ids).order_by("id"):
        retries[retry.stripe_invoice_id] = retry  # the last one wins
    rows = []
    for invoice in invoices:
        data = invoice.stripe_data
        currency = str(data.get("currency", "")).upper()
        last = retries.get(invoice.id)
        error = (invoice.payment_intent.stripe_data if invoice.payment_intent else {}).get(
            "last_payment_error"
        ) or {}
        if last is not None and last.status in (PaymentRetry.Status.DECLINED, "refused"):
            code, message = last.decline_code, last.failure_message
        else:
            code = error.get("decline_code") or error.get("code") or ""
            message = error.get("message") or ""
        due = invoice_due_day(data)
        account = (
            getattr(invoice.customer, "backoffice_account", None) if invoice.customer else None
        )
        rows.append(
            FailedPayment(
                stripe_invoice_id=invoice.id,
                number=data.get("number") or invoice.id,
                account=account,
                stripe_customer_id=str(data.get("customer") or ""),
                currency=currency,
                amount_due=from_stripe_amount(int(data.get("amount_remaining") or 0), currency),
                attempt_count=int(data.get("attempt_count") or 0),
                next_payment_attempt=stripe_moment(data.get("next_payment_attempt")),
                failure_code=code,
                failure_message=message,
                days_overdue=max(0, (today - due).days) if due else 0,
                pending_retry=last if last and last.status == PaymentRetry.Status.PENDING else None,
            )
        )
    rows.sort(key=lambda row: (-row.days_overdue, row.number))
    return rows


def payment_retries_visible_to(user: User) -> QuerySet[PaymentRetry]:
    retries = PaymentRetry.objects.select_related("account", "requested_by")
    if user.has_perm(VIEW_ALL_ACCOUNTS):
        return retries
    return retries.filter(Q(account__account_manager=user))


@transaction.atomic
def payment_retry_request(*, stripe_invoice_id: str, by: User, reason: str) -> PaymentRetry:
    """ "Retry payment now": a retry of ours, sent to Stripe once this commits. A second click
    while one is pending is that one."""
    if not by.has_perm(RETRY_PAYMENT):
        raise PermissionDenied("Only finance retries a payment.")
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": "Say why the payment is retried now (it is recorded)."})
    invoice = _failed_invoices(by).filter(id=stripe_invoice_id).first()
    if invoice is None:
        raise ValidationError(
            f"Invoice {stripe_invoice_id} is not a failed payment: it is paid, void, not "
            "collected automatically, never attempted, or not one of your accounts'."
        )
    pending = PaymentRetry.objects.filter(
        stripe_invoice_id=stripe_invoice_id, status=PaymentRetry.Status.PENDING
    ).first()
    if pending is not None:
        return pending  # clicked twice: the retry under way
    data = invoice.stripe_data
    currency = str(data.get("currency", "")).upper()
    retry = PaymentRetry(
        stripe_invoice_id=stripe_invoice_id,
        account=getattr(invoice.customer, "backoffice_account", None),
        currency=currency,
        amount_due=from_stripe_amount(int(data.get("amount_remaining") or 0), currency),
        requested_by=by,
        reason=reason[:500],
    )
    try:
        with transaction.atomic():
            history_save(retry, by=by, why=f"retry payment now: {reason}")
    except IntegrityError:
        # Another click won the race to the one pending retry.
        return PaymentRetry.objects.get(
            stripe_invoice_id=stripe_invoice_id, status=PaymentRetry.Status.PENDING
        )
    push_after_commit(payment_retry_task, retry.pk)
    return retry


def payment_retry_send(*, retry: PaymentRetry, api: StripeApi | None = None) -> PaymentRetry:
    """Ask Stripe to pay the invoice now, once, and record what it answered; the invoice (and
    its payment intent) are read again into the mirror. Run outside a transaction (the task)."""
    retry = PaymentRetry.objects.get(pk=retry.pk)
    if retry.status != PaymentRetry.Status.PENDING:
        return retry  # answered already: the task ran twice
    api = api or StripeApi()
    try:
        stripe_write(
            api,
            key=retry.idempotency_key,
            description=f"Retry payment of invoice {retry.stripe_invoice_id}",
            method="POST",
            path=f"/v1/invoices/{retry.stripe_invoice_id}/pay",
            record=retry,
        )
    except PushRefused as refused:
        error = refused.__cause__
        if isinstance(error, stripe.CardError):
            body = error.error
            retry.status = PaymentRetry.Status.DECLINED
            retry.decline_code = str(getattr(body, "decline_code", "") or error.code or "")
            retry.failure_message = (error.user_message or str(error))[:500]
        else:
            retry.status = PaymentRetry.Status.REFUSED
            retry.failure_message = str(refused)[:500]
    else:
        retry.status = PaymentRetry.Status.PAID
    retry.answered_at = timezone.now()
    mirror = Mirror(api)
    mirror.refresh(object_type("invoices"), retry.stripe_invoice_id, missing_ok=False)
    intent = (
        Invoice.objects.filter(id=retry.stripe_invoice_id)
        .values_list("stripe_data__payment_intent", flat=True)
        .first()
    )
    if isinstance(intent, str) and intent:
        mirror.refresh(object_type("payment_intents"), intent)
    outcome = retry.get_status_display().lower()
    if retry.decline_code:
        outcome += f" ({retry.decline_code})"
    history_save(retry, by=None, why=f"Stripe answered the retry: {outcome}")
    return retry
