"""What was sent to Stripe for a record, and "send it now": shared by the account and
contract pages."""

from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from billing.models import StripeWrite


def stripe_writes_table(writes: QuerySet[StripeWrite]) -> str:
    """The latest writes to Stripe for a record: what, when, outcome, Stripe id, error."""
    rows = list(writes.order_by("-created_at", "-id")[:20])
    if not rows:
        return "Nothing sent to Stripe yet."
    body = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                timezone.localtime(w.updated_at).strftime("%Y-%m-%d %H:%M:%S"),
                w.description,
                w.get_outcome_display(),
                w.stripe_id or "-",
                w.attempts,
                w.error or "",
            )
            for w in rows
        ),
    )
    return format_html(
        "<table><thead><tr><th>when</th><th>what</th><th>outcome</th><th>Stripe id</th>"
        "<th>attempts</th><th>Stripe's message</th></tr></thead><tbody>{}</tbody></table>",
        body,
    )


@admin.action(description="Send the selected records to Stripe now")
def send_to_stripe(modeladmin: Any, request: HttpRequest, queryset: QuerySet[Any]) -> None:
    """Shared by accounts and contracts: enqueue their push after commit."""
    from billing.models import Contract
    from billing.services.stripe_push import push_after_commit
    from billing.tasks import account_push_to_stripe_task, contract_push_to_stripe_task

    if not settings.STRIPE_SECRET_KEY:
        modeladmin.message_user(
            request, "No Stripe account is connected (STRIPE_SECRET_KEY).", messages.ERROR
        )
        return
    if queryset.model is Contract:
        if not request.user.has_perm("billing.approve_contract"):
            modeladmin.message_user(
                request, "Only finance sends contracts to Stripe.", messages.ERROR
            )
            return
        active = queryset.filter(status=Contract.Status.ACTIVE)
        skipped = queryset.count() - active.count()
        for pk in active.values_list("pk", flat=True):
            push_after_commit(contract_push_to_stripe_task, pk)
        note = f" ({skipped} not active: only active contracts go to Stripe)" if skipped else ""
        modeladmin.message_user(request, f"{active.count()} contract(s) queued for Stripe{note}.")
        return
    for pk in queryset.values_list("pk", flat=True):
        push_after_commit(account_push_to_stripe_task, pk)
    modeladmin.message_user(request, f"{queryset.count()} account(s) queued for Stripe.")
