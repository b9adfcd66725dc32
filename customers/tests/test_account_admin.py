import pytest
from django.urls import reverse

from backoffice.models import User
from customers.models import Account

pytestmark = pytest.mark.django_db


def make_accounts(count: int, manager: User) -> None:
    Account.objects.bulk_create(
        Account(
            legal_name=f"Customer {n:03d} GmbH",
            external_ref=f"CRM-T{n:03d}",
            billing_country=("DE", "JP", "US")[n % 3],
            default_currency=("EUR", "JPY", "USD")[n % 3],
            account_manager=manager,
        )
        for n in range(count)
    )


@pytest.fixture
def finance_client(client, demo_logins):
    client.login(username="finance", password=demo_logins["finance"])
    return client


def test_accounts_list_shows_country_names_and_managers(finance_client):
    make_accounts(3, User.objects.get(username="manager"))
    page = finance_client.get(reverse("admin:customers_account_changelist")).content.decode()
    assert "Customer 001 GmbH" in page
    assert "Japan" in page
    assert "Germany" in page
    assert "manager" in page


def test_accounts_list_query_budget_does_not_grow_with_rows(
    finance_client, django_assert_max_num_queries
):
    make_accounts(150, User.objects.get(username="manager"))
    with django_assert_max_num_queries(10):
        response = finance_client.get(reverse("admin:customers_account_changelist"))
    assert response.status_code == 200


@pytest.mark.parametrize("term", ["CRM-T007", "Customer 007", "customer 007"])
def test_accounts_search_by_name_or_crm_reference(finance_client, term):
    make_accounts(20, User.objects.get(username="manager"))
    response = finance_client.get(reverse("admin:customers_account_changelist"), {"q": term})
    page = response.content.decode()
    assert "Customer 007 GmbH" in page
    assert "Customer 008 GmbH" not in page


def test_account_change_is_recorded_in_its_history(finance_client):
    # given an account
    make_accounts(1, User.objects.get(username="manager"))
    account = Account.objects.get()

    # when finance renames it through the admin form
    url = reverse("admin:customers_account_change", args=[account.pk])
    form = {
        "legal_name": "Renamed GmbH",
        "display_name": "",
        "external_ref": account.external_ref,
        "billing_country": "DE",
        "default_currency": "EUR",
        "account_manager": account.account_manager_id,
        "status": "active",
    }
    assert finance_client.post(url, form).status_code == 302

    # then the history page shows who changed it, and what
    history = finance_client.get(reverse("admin:customers_account_history", args=[account.pk]))
    assert history.status_code == 200
    record = account.history.first()
    assert record.legal_name == "Renamed GmbH"
    assert record.history_user.username == "finance"


def test_lowercase_currency_is_refused_on_the_form(finance_client):
    make_accounts(1, User.objects.get(username="manager"))
    account = Account.objects.get()
    url = reverse("admin:customers_account_change", args=[account.pk])
    response = finance_client.post(
        url,
        {
            "legal_name": account.legal_name,
            "external_ref": account.external_ref,
            "billing_country": "DE",
            "default_currency": "eur",
            "status": "active",
        },
    )
    assert response.status_code == 200
    assert "three-letter ISO 4217 currency code" in response.content.decode()
    account.refresh_from_db()
    assert account.default_currency == "EUR"
