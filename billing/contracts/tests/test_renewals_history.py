"""The daily renew/expire job signs what it changes: its system actor and why."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from backoffice.history import RENEWALS
from billing.contracts.models import Contract
from billing.contracts.services import contract_approve, contract_submit, contracts_renew_or_expire
from billing.contracts.tasks import contracts_renew_or_expire_task
from billing.contracts.tests.factories import seats_contract
from customers.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ending_and_renewing(finance):
    ending = seats_contract(end_date=date(2026, 12, 31))
    renewing = seats_contract(end_date=date(2026, 12, 31), auto_renew=True, renewal_term_months=12)
    approver = UserFactory(username="fin-approver", is_superuser=True)
    for contract in (ending, renewing):
        contract_submit(contract=contract, by=finance)
        contract_approve(contract=contract, by=approver)
    return ending, renewing


def test_the_renewal_job_names_its_system_actor_and_why_in_the_history(ending_and_renewing):
    ending, renewing = ending_and_renewing

    # when the job runs the day after their last day
    assert contracts_renew_or_expire(today=date(2027, 1, 1)) == {"renewed": 1, "expired": 1}

    # then each contract's newest history entry says who and why
    renewed = renewing.history.first()
    assert renewed.history_user.username == RENEWALS
    assert renewed.history_change_reason == (
        "renewed automatically: term ended 2026-12-31, renewed for 12 months to 2027-12-31"
    )
    assert renewed.end_date == date(2027, 12, 31)
    expired = ending.history.first()
    assert expired.history_user.username == RENEWALS
    assert expired.history_change_reason == "expired: term ended 2026-12-31, no automatic renewal"
    assert expired.status == Contract.Status.EXPIRED


def test_the_renewal_actor_cannot_log_in(ending_and_renewing):
    contracts_renew_or_expire(today=date(2027, 1, 1))

    actor = ending_and_renewing[0].history.first().history_user
    assert not actor.is_active
    assert not actor.has_usable_password()
    assert not actor.groups.exists()
    assert not actor.is_staff


def test_the_scheduled_task_signs_as_the_renewal_job_not_as_a_generic_job(finance):
    # given an active contract whose last day was yesterday (the task runs for today)
    today = timezone.localdate()
    ending = seats_contract(start_date=today - timedelta(days=400), end_date=today - timedelta(1))
    contract_submit(contract=ending, by=finance)
    contract_approve(contract=ending, by=UserFactory(username="fin-approver", is_superuser=True))

    # when
    contracts_renew_or_expire_task.apply()  # as beat runs it (eagerly here)

    # then
    entry = ending.history.first()
    assert (entry.status, entry.history_user.username) == (Contract.Status.EXPIRED, RENEWALS)


def test_the_contract_page_change_log_names_the_job(ending_and_renewing):
    from billing.contracts.selectors import contract_change_log

    _, renewing = ending_and_renewing
    contracts_renew_or_expire(today=date(2027, 1, 1))

    entry = contract_change_log(renewing)[0]
    assert (entry.who, entry.changes, entry.reason) == (
        RENEWALS,
        ("end_date: 2026-12-31 → 2027-12-31",),
        "renewed automatically: term ended 2026-12-31, renewed for 12 months to 2027-12-31",
    )
