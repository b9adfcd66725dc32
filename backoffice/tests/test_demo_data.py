import io

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from backoffice.models import User
from billing.models import Contract
from customers.models import Account

pytestmark = pytest.mark.django_db


def snapshot() -> dict[str, object]:
    return {
        "users": sorted(User.objects.values_list("username", "is_superuser", "groups__name")),
        "accounts": sorted(
            Account.objects.values_list("external_ref", "legal_name", "account_manager__username")
        ),
        "history": Account.history.count(),
        "contracts": sorted(Contract.objects.values_list("number", "version", "status")),
        "contract_history": Contract.history.count(),
    }


def test_demo_data_loads_logins_and_accounts(settings):
    settings.DEMO_PASSWORD = "s3cret-demo"
    call_command("demo_data", stdout=io.StringIO())

    assert authenticate(username="admin", password="s3cret-demo").is_superuser
    assert authenticate(username="finance", password="s3cret-demo").groups.get().name == "Finance"
    manager = authenticate(username="manager", password="s3cret-demo")
    assert manager.groups.get().name == "Account managers"
    assert manager.managed_accounts.exists()
    assert Account.objects.values("billing_country").distinct().count() >= 5


def test_demo_data_twice_changes_nothing(settings):
    # given the demo data loaded once
    call_command("demo_data", stdout=io.StringIO())
    first = snapshot()

    # when it is loaded again
    call_command("demo_data", stdout=io.StringIO())

    # then nothing is duplicated and no empty audit entries appear
    assert snapshot() == first


def test_demo_data_puts_back_what_was_changed(settings):
    call_command("demo_data", stdout=io.StringIO())
    Account.objects.filter(external_ref="CRM-0001").update(legal_name="Renamed")
    User.objects.filter(username="finance").update(is_active=False)

    call_command("demo_data", stdout=io.StringIO())

    assert Account.objects.get(external_ref="CRM-0001").legal_name == "Northwind Traders Inc."
    assert User.objects.get(username="finance").is_active


def test_demo_data_prints_the_logins(settings, capsys):
    settings.DEMO_PASSWORD = "printed-pw"
    call_command("demo_data")
    out = capsys.readouterr().out
    for username in ("admin", "finance", "manager"):
        assert username in out
    assert "printed-pw" in out


def test_demo_has_contracts_in_every_status_and_pricing_model(settings):
    from billing.models import Contract, ContractLine

    call_command("demo_data", stdout=io.StringIO())

    assert Account.objects.count() >= 40
    assert Account.objects.values("billing_country").distinct().count() >= 15
    currencies = set(Account.objects.values_list("default_currency", flat=True))
    assert len(currencies) >= 8
    assert {"JPY", "BHD", "KWD"} <= currencies
    assert set(Contract.objects.values_list("status", flat=True)) == set(Contract.Status.values)
    assert set(ContractLine.objects.values_list("pricing_model", flat=True)) == {
        "flat",
        "per_unit",
        "graduated",
        "volume",
        "usage",
    }
    amended = Contract.objects.get(number="C-2026-00002", version=2)
    assert amended.status == Contract.Status.ACTIVE
    assert amended.amends.status == Contract.Status.SUPERSEDED
    # every active contract's value is computed
    assert (
        not Contract.objects.filter(status="active", annual_contract_value=0)
        .exclude(lines__pricing_model__in=["usage", "graduated", "volume"])
        .exists()
    )
