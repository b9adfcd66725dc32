"""Every change of a contract's state: submit, approve, send back, amend, cancel, terminate.

Each service runs in one transaction, locks the contract row, checks who may do it and from
which state, and is harmless when run twice. The admin's buttons and actions call these.
"""

from datetime import date, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from backoffice.history import RENEWALS, acting_as
from backoffice.models import User
from billing.contracts.hooks import contract_changed
from billing.contracts.models import Contract, ContractLine, PriceTier
from billing.contracts.rules import raise_if_any
from billing.contracts.selectors import contract_errors_for, contract_values
from billing.contracts.tasks import contract_push_to_stripe_task
from billing.pricing import add_months
from customers.payment_methods import payment_method_refusals
from customers.selectors import account_visible_to
from stripe_sync.models import PushStatus
from stripe_sync.writes import push_after_commit

APPROVE_CONTRACT = "billing.approve_contract"
Status = Contract.Status


def _locked(contract: Contract) -> Contract:
    return Contract.objects.select_for_update().select_related("account").get(pk=contract.pk)


def _require_status(contract: Contract, *allowed: str, rule: str) -> None:
    if contract.status not in allowed:
        raise ValidationError(
            f"Contract {contract} is {contract.get_status_display().lower()}; {rule}"
        )


def _check_may_edit(contract: Contract, user: User) -> None:
    if not account_visible_to(user, contract.account):
        raise PermissionDenied(
            f"{user.get_username()} does not manage {contract.account} and cannot change its "
            "contracts."
        )


def contract_lock_version_bump(contract: Contract) -> None:
    """Every change to a contract, whichever way it comes (the page, a workflow step, an
    import, the daily job), moves its lock version on: whoever opened it before is told to
    reload instead of overwriting the change (ContractForm). The caller saves it, from a row
    it holds locked, so no concurrent change is lost."""
    contract.lock_version += 1


def contract_push_after_commit(contract: Contract) -> None:
    """Send the contract to Stripe once this transaction commits (approved, or "Send to Stripe
    now"); nothing while no Stripe account is connected."""
    push_after_commit(contract_push_to_stripe_task, contract.pk)


def _save(contract: Contract, *fields: str) -> None:
    contract_lock_version_bump(contract)  # the row is locked (_locked)
    contract.save(update_fields=[*fields, "lock_version", "updated_at"])


def contract_number_next(*, year: int) -> str:
    prefix = f"C-{year}-"
    numbers = Contract.objects.filter(number__startswith=prefix).values_list("number", flat=True)
    used = [int(n[len(prefix) :]) for n in numbers if n[len(prefix) :].isdigit()]
    return f"{prefix}{max(used, default=0) + 1:05d}"


def contract_number_assign(contract: Contract) -> None:
    """Give a new contract the next free number; two people saving at once get two numbers."""
    if contract.number:
        return
    for _ in range(5):
        contract.number = contract_number_next(
            year=(contract.start_date or timezone.localdate()).year
        )
        try:
            with transaction.atomic():
                contract.save()
            return
        except IntegrityError:
            contract.pk = None
    raise ValidationError("Could not give the contract a number; please save again.")


def contract_values_refresh(contract: Contract) -> Contract:
    """Recompute ACV and TCV from the saved lines (the version priced over its whole term)."""
    acv, tcv = contract_values(contract)
    Contract.objects.filter(pk=contract.pk).update(
        annual_contract_value=acv, total_contract_value=tcv
    )
    contract.annual_contract_value, contract.total_contract_value = acv, tcv
    return contract


def _raise_unless_paid_in_currency(contract: Contract) -> None:
    """A contract billed in a currency none of the account's payment methods take would leave
    its invoices unpayable (SEPA Direct Debit takes EUR only): said at submission and at
    approval, not at the first finalization."""
    account = contract.account
    refusals = payment_method_refusals(
        account.accepted_payment_methods,
        country=str(account.billing_country or ""),
        currencies=[contract.currency],
    )
    if refusals:
        raise ValidationError(
            f"Contract {contract} bills {contract.currency}, which {account} cannot pay with "
            f"its payment methods: {' '.join(refusals)} Change the account's payment methods "
            "first."
        )


@transaction.atomic
def contract_submit(*, contract: Contract, by: User) -> Contract:
    contract = _locked(contract)
    if contract.status == Status.PENDING_APPROVAL:
        return contract
    _require_status(contract, Status.DRAFT, rule="only drafts are submitted for approval.")
    _check_may_edit(contract, by)
    if not contract.lines.exists():
        raise ValidationError(f"Contract {contract} has no lines: add what is sold first.")
    raise_if_any(contract_errors_for(contract))
    _raise_unless_paid_in_currency(contract)
    contract.status = Status.PENDING_APPROVAL
    contract.submitted_by, contract.submitted_at = by, timezone.now()
    contract.sent_back_reason = ""
    _save(contract, "status", "submitted_by", "submitted_at", "sent_back_reason")
    return contract_values_refresh(contract)


@transaction.atomic
def contract_approve(*, contract: Contract, by: User) -> Contract:
    contract = _locked(contract)
    if contract.status == Status.ACTIVE:
        return contract
    _require_status(
        contract, Status.PENDING_APPROVAL, rule="only contracts pending approval are approved."
    )
    if not by.has_perm(APPROVE_CONTRACT):
        raise PermissionDenied("Only finance approves contracts.")
    if by.pk in (contract.submitted_by_id, contract.created_by_id):
        raise ValidationError(
            f"{by.get_username()} wrote or submitted contract {contract}; another person "
            "approves it."
        )
    raise_if_any(contract_errors_for(contract))
    _raise_unless_paid_in_currency(contract)
    if contract.amends_id:
        previous = Contract.objects.select_for_update().get(pk=contract.amends_id)
        _require_status(previous, Status.ACTIVE, rule="only an active contract is amended.")
        previous.status = Status.SUPERSEDED
        _save(previous, "status")
    contract.status = Status.ACTIVE
    contract.approved_by, contract.approved_at = by, timezone.now()
    _save(contract, "status", "approved_by", "approved_at")
    contract_push_after_commit(contract)
    contract_changed.send(contract)
    return contract_values_refresh(contract)


@transaction.atomic
def contract_send_back(*, contract: Contract, by: User, reason: str) -> Contract:
    contract = _locked(contract)
    if not reason.strip():
        raise ValidationError("Say why the contract goes back, so its author can fix it.")
    _require_status(
        contract, Status.PENDING_APPROVAL, rule="only contracts pending approval are sent back."
    )
    if not by.has_perm(APPROVE_CONTRACT):
        raise PermissionDenied("Only finance sends contracts back.")
    contract.status = Status.DRAFT
    contract.sent_back_reason = reason.strip()
    _save(contract, "status", "sent_back_reason")
    return contract


@transaction.atomic
def contract_cancel(*, contract: Contract, by: User, reason: str) -> Contract:
    contract = _locked(contract)
    if contract.status == Status.CANCELLED:
        return contract
    _require_status(
        contract,
        Status.DRAFT,
        Status.PENDING_APPROVAL,
        rule="only drafts and contracts pending approval are cancelled (an active one is "
        "terminated).",
    )
    _check_may_edit(contract, by)
    if not reason.strip():
        raise ValidationError("Say why the contract is cancelled.")
    contract.status = Status.CANCELLED
    contract.ended_reason = reason.strip()
    _save(contract, "status", "ended_reason")
    return contract


@transaction.atomic
def contract_terminate(*, contract: Contract, by: User, end_date: date, reason: str) -> Contract:
    contract = _locked(contract)
    if contract.status == Status.TERMINATED:
        return contract
    _require_status(contract, Status.ACTIVE, rule="only active contracts are terminated.")
    if not by.has_perm(APPROVE_CONTRACT):
        raise PermissionDenied("Only finance terminates contracts.")
    if not reason.strip():
        raise ValidationError("Say why the contract is terminated.")
    if not contract.start_date <= end_date <= contract.end_date:
        raise ValidationError(
            f"The termination date {end_date} must fall within the term, {contract.start_date} "
            f"to {contract.end_date}."
        )
    contract.status = Status.TERMINATED
    contract.end_date, contract.ended_reason = end_date, reason.strip()
    _save(contract, "status", "end_date", "ended_reason")
    contract_push_after_commit(contract)  # its schedule ends in Stripe too
    contract_changed.send(contract)
    return contract_values_refresh(contract)


@transaction.atomic
def contract_amend(*, contract: Contract, by: User, effective_date: date) -> Contract:
    """Start an amendment: a new draft version, a copy of the active one, in force from
    `effective_date` once approved."""
    contract = _locked(contract)
    _require_status(contract, Status.ACTIVE, rule="only an active contract is amended.")
    _check_may_edit(contract, by)
    open_amendment = Contract.objects.filter(
        amends=contract, status__in=[Status.DRAFT, Status.PENDING_APPROVAL]
    ).first()
    if open_amendment:
        raise ValidationError(
            f"Contract {contract} already has an amendment in progress: {open_amendment}."
        )
    if not contract.start_date < effective_date <= contract.end_date:
        raise ValidationError(
            f"The amendment's effective date {effective_date} must fall after the start "
            f"({contract.start_date}) and within the term (to {contract.end_date})."
        )
    lines = list(contract.lines.prefetch_related("phases__tiers"))
    version = (
        Contract.objects.filter(number=contract.number)
        .order_by("-version")
        .values_list("version", flat=True)[0]
        + 1
    )
    amendment = Contract.objects.get(pk=contract.pk)
    amendment.pk = None
    amendment.version, amendment.amends, amendment.effective_date = (
        version,
        contract,
        effective_date,
    )
    amendment.status = Status.DRAFT
    amendment.created_by = by
    amendment.submitted_by = amendment.approved_by = None
    amendment.submitted_at = amendment.approved_at = None
    amendment.sent_back_reason = amendment.ended_reason = ""
    amendment.lock_version = 0
    # Not in Stripe until approved: then it gets prices of its own and takes over the schedule.
    amendment.stripe_schedule_id = amendment.stripe_push_error = ""
    amendment.stripe_push_status, amendment.stripe_pushed_at = PushStatus.NOT_PUSHED, None
    amendment.save()
    for line in lines:
        phases = list(line.phases.all())
        line.pk, line.contract = None, amendment
        line.save()
        for phase in phases:
            tiers = list(phase.tiers.all())
            phase.pk, phase.line, phase.stripe_price_id = None, line, ""
            phase.save()
            PriceTier.objects.bulk_create(
                PriceTier(
                    phase=phase, up_to=t.up_to, unit_amount=t.unit_amount, flat_amount=t.flat_amount
                )
                for t in tiers
            )
    return contract_values_refresh(amendment)


def contract_lines_number(contract: Contract) -> None:
    """Give lines without a key line-1, line-2, ... and keep their order."""
    lines = list(ContractLine.objects.filter(contract=contract).order_by("position", "id"))
    used = {line.key for line in lines if line.key}
    n = 0
    for position, line in enumerate(lines, start=1):
        changed = line.position != position
        line.position = position
        if not line.key:
            while f"line-{(n := n + 1)}" in used:
                pass
            line.key = f"line-{n}"
            used.add(line.key)
            changed = True
        if changed:
            line.save(update_fields=["key", "position"])


def contracts_renew_or_expire(*, today: date) -> dict[str, int]:
    """Past their last day, contracts that renew automatically run another renewal term;
    the others expire. Safe to run any number of times a day."""
    renewed = expired = 0
    due = Contract.objects.filter(status=Status.ACTIVE, end_date__lt=today).values_list(
        "pk", flat=True
    )
    for pk in due:
        with transaction.atomic():
            contract = Contract.objects.select_for_update().get(pk=pk)
            if contract.status != Status.ACTIVE or contract.end_date >= today:
                continue
            ended = contract.end_date
            term = contract.renewal_term_months if contract.auto_renew else None
            if term:
                while contract.end_date < today:
                    contract.end_date = add_months(
                        contract.end_date + timedelta(days=1), term
                    ) - timedelta(days=1)
                why = (
                    f"renewed automatically: term ended {ended:%Y-%m-%d}, renewed for "
                    f"{term} months to {contract.end_date:%Y-%m-%d}"
                )
            else:
                contract.status = Status.EXPIRED
                why = f"expired: term ended {ended:%Y-%m-%d}, no automatic renewal"
            # In the contract's history, and that of whatever follows from it: who and why.
            with acting_as(RENEWALS, why):
                if term:
                    _save(contract, "end_date")
                    contract_values_refresh(contract)
                    renewed += 1
                else:
                    _save(contract, "status")
                    expired += 1
                contract_changed.send(contract)
    return {"renewed": renewed, "expired": expired}
