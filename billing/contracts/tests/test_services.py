"""The contract workflow: draft -> pending approval -> active -> superseded / terminated."""

from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError

from backoffice.roles import ACCOUNT_MANAGERS, FINANCE
from billing.contracts.models import Contract
from billing.contracts.selectors import contract_terms, contracts_visible_to
from billing.contracts.services import (
    contract_amend,
    contract_approve,
    contract_cancel,
    contract_number_next,
    contract_send_back,
    contract_submit,
    contract_terminate,
)
from billing.contracts.tests.factories import ContractFactory, PricePhaseFactory, seats_contract
from billing.pricing import expected_charges
from customers.tests.factories import AccountFactory, UserFactory

pytestmark = pytest.mark.django_db
Status = Contract.Status


@pytest.fixture
def manager():
    user = UserFactory(username="am-anna")
    user.groups.add(Group.objects.get(name=ACCOUNT_MANAGERS))
    return user


@pytest.fixture
def finance():
    user = UserFactory(username="fin-fred")
    user.groups.add(Group.objects.get(name=FINANCE))
    return user


@pytest.fixture
def draft(manager):
    return seats_contract(account=AccountFactory(account_manager=manager), created_by=manager)


def test_submit_then_approve_makes_the_contract_active_with_its_values(draft, manager, finance):
    # when the account manager submits and finance approves
    contract_submit(contract=draft, by=manager)
    contract = contract_approve(contract=draft, by=finance)

    # then it is active, with who approved it and what it is worth
    contract.refresh_from_db()
    assert contract.status == Status.ACTIVE
    assert (contract.submitted_by, contract.approved_by) == (manager, finance)
    assert contract.annual_contract_value == Decimal("24000.000")  # 100 seats x 20 x 12
    assert contract.total_contract_value == Decimal("72000.000")


def test_running_a_step_twice_is_harmless(draft, manager, finance):
    contract_submit(contract=draft, by=manager)
    contract_submit(contract=draft, by=manager)
    contract_approve(contract=draft, by=finance)
    contract_approve(contract=draft, by=finance)
    draft.refresh_from_db()
    assert draft.status == Status.ACTIVE


def test_the_author_never_approves(finance):
    contract = seats_contract(created_by=finance)
    contract_submit(contract=contract, by=finance)
    with pytest.raises(ValidationError, match="another person approves it"):
        contract_approve(contract=contract, by=finance)
    contract.refresh_from_db()
    assert contract.status == Status.PENDING_APPROVAL


def test_account_managers_cannot_approve(draft, manager):
    contract_submit(contract=draft, by=manager)
    other_manager = UserFactory(username="am-other")
    other_manager.groups.add(Group.objects.get(name=ACCOUNT_MANAGERS))
    with pytest.raises(PermissionDenied, match="Only finance approves"):
        contract_approve(contract=draft, by=other_manager)


def test_an_account_manager_cannot_submit_another_managers_contract(draft):
    stranger = UserFactory(username="am-stranger")
    stranger.groups.add(Group.objects.get(name=ACCOUNT_MANAGERS))
    with pytest.raises(PermissionDenied, match="does not manage"):
        contract_submit(contract=draft, by=stranger)


def test_an_incomplete_contract_is_not_submitted(manager):
    contract = ContractFactory(account=AccountFactory(account_manager=manager))
    with pytest.raises(ValidationError, match="has no lines"):
        contract_submit(contract=contract, by=manager)
    bad = seats_contract(account=contract.account, currency="JPY")
    bad.lines.get().phases.update(unit_amount=Decimal("20.50"))
    with pytest.raises(ValidationError, match="JPY amounts have no decimals"):
        contract_submit(contract=bad, by=manager)
    bad.refresh_from_db()
    assert bad.status == Status.DRAFT


def test_send_back_needs_a_reason_and_returns_the_draft(draft, manager, finance):
    contract_submit(contract=draft, by=manager)
    with pytest.raises(ValidationError, match="Say why"):
        contract_send_back(contract=draft, by=finance, reason="  ")
    contract_send_back(contract=draft, by=finance, reason="Seat price below the floor.")
    draft.refresh_from_db()
    assert draft.status == Status.DRAFT
    assert draft.sent_back_reason == "Seat price below the floor."
    # resubmitting clears the reason
    contract_submit(contract=draft, by=manager)
    draft.refresh_from_db()
    assert draft.sent_back_reason == ""


def test_amendment_is_a_new_version_that_supersedes_from_its_effective_date(
    draft, manager, finance
):
    # given an active contract at 100 seats
    contract_submit(contract=draft, by=manager)
    contract_approve(contract=draft, by=finance)

    # when an amendment raises the seats to 150 from 2027-01-01 and is approved
    amendment = contract_amend(contract=draft, by=manager, effective_date=date(2027, 1, 1))
    assert (amendment.number, amendment.version, amendment.status) == (
        draft.number,
        2,
        Status.DRAFT,
    )
    amendment.lines.get().phases.update(quantity=150)
    contract_submit(contract=amendment, by=manager)
    contract_approve(contract=amendment, by=finance)

    # then the first version is superseded and each prices its own days
    draft.refresh_from_db()
    amendment.refresh_from_db()
    assert (draft.status, amendment.status) == (Status.SUPERSEDED, Status.ACTIVE)
    december = (date(2026, 12, 1), date(2026, 12, 31))
    january = (date(2027, 1, 1), date(2027, 1, 31))
    assert expected_charges(contract_terms(draft), december).total == Decimal("2000.00")
    assert expected_charges(contract_terms(draft), january).total == Decimal("0")
    assert expected_charges(contract_terms(amendment), january).total == Decimal("3000.00")
    # and the history of versions stays
    assert list(
        Contract.objects.filter(number=draft.number)
        .values_list("version", flat=True)
        .order_by("version")
    ) == [1, 2]


def test_one_amendment_at_a_time(draft, manager, finance):
    contract_submit(contract=draft, by=manager)
    contract_approve(contract=draft, by=finance)
    contract_amend(contract=draft, by=manager, effective_date=date(2027, 1, 1))
    with pytest.raises(ValidationError, match="already has an amendment in progress"):
        contract_amend(contract=draft, by=manager, effective_date=date(2027, 6, 1))


def test_cancel_and_terminate(draft, manager, finance):
    with pytest.raises(ValidationError, match="Say why"):
        contract_cancel(contract=draft, by=manager, reason="")
    other = seats_contract(account=draft.account)
    contract_submit(contract=other, by=manager)
    contract_approve(contract=other, by=finance)
    with pytest.raises(ValidationError, match="an active one is terminated"):
        contract_cancel(contract=other, by=manager, reason="Lost the deal")
    contract_terminate(
        contract=other, by=finance, end_date=date(2026, 6, 30), reason="Customer acquired"
    )
    other.refresh_from_db()
    assert (other.status, other.end_date) == (Status.TERMINATED, date(2026, 6, 30))
    assert other.total_contract_value == Decimal("12000.000")  # six months


def test_contract_numbers_are_readable_and_sequential():
    ContractFactory(number="C-2026-00041")
    assert contract_number_next(year=2026) == "C-2026-00042"
    assert contract_number_next(year=2027) == "C-2027-00001"


def test_account_managers_see_only_their_own_contracts(manager, finance, draft):
    seats_contract()  # someone else's
    assert list(contracts_visible_to(manager)) == [draft]
    assert contracts_visible_to(finance).count() == 2


def test_lock_version_moves_with_every_step(draft, manager, finance):
    before = draft.lock_version
    contract_submit(contract=draft, by=manager)
    draft.refresh_from_db()
    assert draft.lock_version == before + 1


def test_ramped_tiered_contract_values(manager, finance):
    # a graduated seat price that ramps: year 1 at the tier prices, years 2-3 cheaper
    contract = ContractFactory(account=AccountFactory(account_manager=manager), created_by=manager)
    from billing.contracts.tests.factories import ContractLineFactory, PriceTierFactory

    line = ContractLineFactory(contract=contract, pricing_model="graduated")
    y1 = PricePhaseFactory(
        line=line,
        start_date=date(2026, 1, 1),
        end_date=date(2026, 12, 31),
        unit_amount=0,
        quantity=150,
    )
    PriceTierFactory(phase=y1, up_to=100, unit_amount=Decimal("10.00"))
    PriceTierFactory(phase=y1, up_to=None, unit_amount=Decimal("8.00"))
    y2 = PricePhaseFactory(
        line=line, start_date=date(2027, 1, 1), end_date=None, unit_amount=0, quantity=150
    )
    PriceTierFactory(phase=y2, up_to=100, unit_amount=Decimal("9.00"))
    PriceTierFactory(phase=y2, up_to=None, unit_amount=Decimal("7.00"))
    contract_submit(contract=contract, by=manager)
    contract = contract_approve(contract=contract, by=finance)
    # year 1: 100 x 10 + 50 x 8 = 1,400 a month; years 2-3: 100 x 9 + 50 x 7 = 1,250 a month
    assert contract.annual_contract_value == Decimal("16800.00")
    assert contract.total_contract_value == Decimal("16800") + 24 * Decimal("1250")


def test_contracts_past_their_end_expire_or_renew(manager, finance):
    from billing.contracts.services import contracts_renew_or_expire

    ending = seats_contract(end_date=date(2026, 12, 31))
    renewing = seats_contract(end_date=date(2026, 12, 31), auto_renew=True, renewal_term_months=12)
    for contract in (ending, renewing):
        contract_submit(contract=contract, by=finance)
        contract_approve(contract=contract, by=UserFactory(username="fin-2", is_superuser=True))

    assert contracts_renew_or_expire(today=date(2026, 12, 31)) == {"renewed": 0, "expired": 0}
    assert contracts_renew_or_expire(today=date(2027, 1, 1)) == {"renewed": 1, "expired": 1}
    assert contracts_renew_or_expire(today=date(2027, 1, 1)) == {"renewed": 0, "expired": 0}
    ending.refresh_from_db()
    renewing.refresh_from_db()
    assert ending.status == Status.EXPIRED
    assert (renewing.status, renewing.end_date) == (Status.ACTIVE, date(2027, 12, 31))


def test_an_amendments_usage_ramp_is_priced_by_the_phase_in_force(manager, finance):
    # given an active usage contract whose ramp starts on the contract's first day (blank
    # start) and drops the price from 2027-07-01
    from billing.contracts.tests.factories import ContractLineFactory

    contract = ContractFactory(account=AccountFactory(account_manager=manager), created_by=manager)
    line = ContractLineFactory(contract=contract, pricing_model="usage", metric="calls")
    PricePhaseFactory(
        line=line,
        start_date=None,
        end_date=date(2027, 6, 30),
        unit_amount=Decimal("0.10"),
        quantity=0,
    )
    PricePhaseFactory(
        line=line,
        start_date=date(2027, 7, 1),
        end_date=None,
        unit_amount=Decimal("0.05"),
        quantity=0,
    )
    contract_submit(contract=contract, by=manager)
    contract_approve(contract=contract, by=finance)

    # when an amendment takes effect on 2027-01-01
    amendment = contract_amend(contract=contract, by=manager, effective_date=date(2027, 1, 1))

    # then its March 2027 usage is priced by the first phase, in force that month
    march = (date(2027, 3, 1), date(2027, 3, 31))
    assert expected_charges(contract_terms(amendment), march, {"calls": 1000}).total == Decimal(
        "100.00"
    )


def test_a_contract_in_a_currency_the_accounts_methods_cannot_take_is_refused(manager, finance):
    """A German account paying by SEPA Direct Debit only: a USD contract would leave every
    invoice unpayable, so it is refused at submission, and at approval if the account's
    methods changed while it waited."""
    account = AccountFactory(account_manager=manager, accepted_payment_methods=["sepa_debit"])
    usd = seats_contract(account=account, created_by=manager, currency="USD")
    with pytest.raises(ValidationError) as refused:
        contract_submit(contract=usd, by=manager)
    assert (
        f"Contract {usd} bills USD, which {account} cannot pay with its payment methods: "
        "SEPA Direct Debit takes EUR only; this account is billed in USD."
    ) in str(refused.value)
    usd.refresh_from_db()
    assert usd.status == Status.DRAFT
    # By card it is submitted (each accepted method must take each currency billed, as the
    # account's own check says); SEPA only again before approval: refused there too.
    account.accepted_payment_methods = ["card"]
    account.save()
    contract_submit(contract=usd, by=manager)
    account.accepted_payment_methods = ["sepa_debit"]
    account.save()
    with pytest.raises(ValidationError, match="cannot pay with its payment methods"):
        contract_approve(contract=usd, by=finance)
    usd.refresh_from_db()
    assert usd.status == Status.PENDING_APPROVAL
    # A EUR contract of the SEPA account goes through.
    eur = seats_contract(account=account, created_by=manager)
    contract_submit(contract=eur, by=manager)
    assert contract_approve(contract=eur, by=finance).status == Status.ACTIVE
