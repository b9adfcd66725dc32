"""Fixtures for every folder's tests (loaded by the root conftest): an account manager, a
finance user, and an account of the manager's with a tax ID."""

import pytest
from django.contrib.auth.models import Group

from backoffice.roles import ACCOUNT_MANAGERS, FINANCE
from customers.models import Account, TaxId
from customers.tests.factories import AccountFactory, UserFactory


@pytest.fixture
def manager():
    user = UserFactory(username="am-push")
    user.groups.add(Group.objects.get(name=ACCOUNT_MANAGERS))
    return user


@pytest.fixture
def finance():
    user = UserFactory(username="fin-push")
    user.groups.add(Group.objects.get(name=FINANCE))
    return user


@pytest.fixture
def account(manager):
    account = AccountFactory(
        legal_name="Bergmann Logistik GmbH",
        external_ref="CRM-00042",
        billing_email="ap@bergmann.example",
        address_line1="Hafenstr. 1",
        city="Hamburg",
        postal_code="20457",
        billing_country="DE",
        tax_exemption=Account.TaxExemption.REVERSE,
        accepted_payment_methods=["card", "sepa_debit"],
        account_manager=manager,
    )
    TaxId.objects.create(account=account, type="eu_vat", value="DE123456789")
    return account
