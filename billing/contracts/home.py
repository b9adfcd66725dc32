"""What contracts put on the home page (backoffice/home.py). Finance, who approve: what waits
for approval, renewals and notice dates coming up, accounts whose tax is not ready, contracts
Stripe refused. An account manager: their drafts, what finance sent back and why, their
renewals and notice dates. Registered in billing/apps.py."""

from collections.abc import Iterable
from typing import cast

from django.http import HttpRequest
from django.utils import timezone

from backoffice.home import Detail, Figure, may_open
from backoffice.models import User
from billing.contracts.models import Contract
from billing.contracts.selectors import (
    accounts_not_tax_ready,
    contract_counts,
    contracts_notice_due,
    contracts_sent_back,
    contracts_visible_to,
)
from billing.contracts.services import APPROVE_CONTRACT
from customers.models import Account
from customers.selectors import accounts_visible_to
from stripe_sync.selectors import PUSH_FAILING

PANEL = "Contracts"
# Days ahead finance plans renewals and notices by.
WINDOWS = (30, 60, 90)
# Sent-back drafts named one by one, with the reason; the figure links to all of them.
SENT_BACK_SHOWN = 10


def contract_home_figures(request: HttpRequest) -> Iterable[Figure]:
    if not may_open(request, Contract):
        return []
    user = cast(User, request.user)
    today = timezone.localdate()
    # The rows of the contracts list this person sees: all for finance, their own for a manager.
    contracts = contracts_visible_to(user)
    counts = contract_counts(contracts, today=today, windows=WINDOWS)
    approver = user.has_perm(APPROVE_CONTRACT)
    figures = []
    if approver:
        figures.append(
            Figure(
                PANEL,
                "Waiting for approval",
                counts.pending_approval,
                Contract,
                {"status__exact": Contract.Status.PENDING_APPROVAL},
            )
        )
    else:
        draft = Contract.Status.DRAFT
        figures.append(
            Figure(PANEL, "Your drafts", counts.drafts, Contract, {"status__exact": draft})
        )
        sent_back = (
            contracts_sent_back(contracts, limit=SENT_BACK_SHOWN) if counts.sent_back else []
        )
        figures.append(
            Figure(
                PANEL,
                "Sent back to you",
                counts.sent_back,
                Contract,
                # A draft with a reason is one finance sent back (submitting clears it).
                {"status__exact": draft, "sent_back_reason__gt": ""},
                details=tuple(
                    Detail(Contract, c.pk, f"{c}, {c.account}", c.sent_back_reason)
                    for c in sent_back
                ),
            )
        )
    figures += [
        Figure(
            PANEL,
            f"Renew or end within {days} days",
            counts.ending_within[days],
            Contract,
            {"ends_within": str(days)},  # the list's filter "renews or ends"
        )
        for days in WINDOWS
    ]
    notice_due = contracts_notice_due(contracts, today=today, days=max(WINDOWS))
    for days in WINDOWS:
        due = [pk for pk, day in notice_due if (day - today).days <= days]
        figures.append(
            Figure(
                PANEL,
                f"Notice due within {days} days",
                len(due),
                Contract,
                {"notice_within": str(days)},  # the list's filter "notice due"
            )
        )
    if approver:
        figures.append(
            Figure(
                "Stripe sync",
                "Contracts Stripe refused or is retrying",
                counts.push_failing,
                Contract,
                {"stripe_push_status__in": ",".join(PUSH_FAILING)},
            )
        )
        if may_open(request, Account):
            figures.append(
                Figure(
                    "Accounts",
                    "Accounts not tax-ready",
                    accounts_not_tax_ready(accounts_visible_to(user), today=today),
                    Account,
                    {"tax": "not_ready"},  # the accounts list's filter "tax readiness"
                )
            )
    return figures
