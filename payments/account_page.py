"""What payments adds to the account page: the account's payment readiness (a debit it
accepts without an active mandate) beside its tax, and a "Payments" section: saved payment
methods, mandates, the last charges and the open invoices, read from the Stripe mirror in a
constant number of queries. It extends the account page registered last (invoice review's),
as that one extends billing's: payments sits above both."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from customers.models import Account
from payments.selectors import (
    AccountPayments,
    account_payments,
    accounts_without_debit_mandate,
)

_AccountAdmin = type(admin.site._registry[Account])  # invoice review's account page


def _payments_of(account: Account) -> AccountPayments:
    # Read once for the page: both fields below show parts of it.
    if not hasattr(account, "_payments_on_page"):
        account._payments_on_page = account_payments(account)  # type: ignore[attr-defined]
    return account._payments_on_page  # type: ignore[attr-defined]


def _table(headers: tuple[str, ...], rows: Any, empty: str) -> str:
    rows = list(rows)
    if not rows:
        return format_html("<p>{}</p>", empty)
    head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
    body = format_html_join(
        "", "<tr>" + "<td>{}</td>" * len(headers) + "</tr>", (tuple(r) for r in rows)
    )
    return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)


class PaymentReadinessFilter(admin.SimpleListFilter):
    """Accounts that accept a debit Stripe cannot collect yet (no active mandate)."""

    title = "payment readiness"
    parameter_name = "payments"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("no_mandate", "Debit accepted, no active mandate")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Account]) -> QuerySet[Account]:
        if self.value() != "no_mandate":
            return queryset
        return queryset.filter(pk__in=accounts_without_debit_mandate(queryset))


class AccountWithPaymentsAdmin(_AccountAdmin):  # type: ignore[valid-type,misc]
    """The account page, with how the customer pays and what Stripe collected; the accounts
    list, with the filter "payment readiness"."""

    list_filter = (*_AccountAdmin.list_filter, PaymentReadinessFilter)

    readonly_fields = (
        *_AccountAdmin.readonly_fields,
        "payment_readiness",
        "payment_methods_saved",
        "mandates",
        "last_charges",
        "open_invoices",
    )
    fieldsets = (
        *(
            (name, {**options, "fields": (*options["fields"], "payment_readiness")})
            if name == "Payment and tax"
            else (name, options)
            for name, options in (_AccountAdmin.fieldsets or ())
        ),
        (
            "Payments",
            {"fields": ("payment_methods_saved", "mandates", "last_charges", "open_invoices")},
        ),
    )

    @admin.display(description="payment readiness")
    def payment_readiness(self, account: Account) -> str:
        if account.pk is None:
            return "-"
        problems = _payments_of(account).problems
        if not problems:
            return "ready"
        return format_html(
            "<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((p,) for p in problems))
        )

    @admin.display(description="payment methods")
    def payment_methods_saved(self, account: Account) -> str:
        if account.pk is None:
            return "-"
        return _table(
            ("method", "type", "expires", "default"),
            (
                (m.label, m.type, m.expires or "-", "default" if m.is_default else "")
                for m in _payments_of(account).methods
            ),
            "No payment method saved in Stripe.",
        )

    @admin.display(description="mandates")
    def mandates(self, account: Account) -> str:
        if account.pk is None:
            return "-"
        return _table(
            ("mandate", "for", "bank account", "status"),
            (
                (m.stripe_id, m.type, m.payment_method, m.status)
                for m in _payments_of(account).mandates
            ),
            "No mandate: the customer has authorised no debit.",
        )

    @admin.display(description="last charges")
    def last_charges(self, account: Account) -> str:
        if account.pk is None:
            return "-"
        return _table(
            ("date", "charge", "amount", "method", "status", "outcome", "failure"),
            (
                (
                    c.created.date() if c.created else "-",
                    c.stripe_id,
                    c.amount,
                    c.method or "-",
                    c.status,
                    c.outcome or "-",
                    c.failure or "-",
                )
                for c in _payments_of(account).charges
            ),
            "No charge yet.",
        )

    @admin.display(description="open invoices")
    def open_invoices(self, account: Account) -> str:
        if account.pk is None:
            return "-"
        return _table(
            ("invoice", "due", "amount due", ""),
            (
                (
                    i.number or i.stripe_id,
                    i.due or "-",
                    i.amount_remaining,
                    "overdue" if i.overdue else "",
                )
                for i in _payments_of(account).open_invoices
            ),
            "No open invoice.",
        )


admin.site.unregister(Account)
admin.site.register(Account, AccountWithPaymentsAdmin)
