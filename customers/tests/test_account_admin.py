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
    # 10 for the list (one the device of the session's second factor), 4 for the page's tax
    # readiness (accounts, tax IDs, contracts, rules)
    with django_assert_max_num_queries(14):
        response = finance_client.get(reverse("admin:customers_account_changelist"))
    assert response.status_code == 200


@pytest.mark.parametrize("term", ["CRM-T007", "Customer 007", "customer 007"])
def test_accounts_search_by_name_or_crm_reference(finance_client, term):
    make_accounts(20, User.objects.get(username="manager"))
    response = finance_client.get(reverse("admin:customers_account_changelist"), {"q": term})
    page = response.content.decode()
    assert "Customer 007 GmbH" in page
    assert "Customer 008 GmbH" not in page


def account_form(account: Account, **changes: object) -> dict[str, object]:
    """The account page's submission, with its (empty) inlines' management forms."""
    data: dict[str, object] = {
        "legal_name": account.legal_name,
        "display_name": "",
        "external_ref": account.external_ref,
        "billing_country": str(account.billing_country),
        "default_currency": account.default_currency,
        "account_manager": account.account_manager_id,
        "status": "active",
        "tax_exemption": "none",
        "accepted_payment_methods": ["card"],
    }
    for prefix in ("contacts", "tax_ids", "contracts"):
        data.update(
            {
                f"{prefix}-TOTAL_FORMS": 0,
                f"{prefix}-INITIAL_FORMS": 0,
                f"{prefix}-MIN_NUM_FORMS": 0,
                f"{prefix}-MAX_NUM_FORMS": 1000,
            }
        )
    return {**data, **changes}


def test_account_change_is_recorded_in_its_history(finance_client):
    # given an account
    make_accounts(1, User.objects.get(username="manager"))
    account = Account.objects.get()

    # when finance renames it through the admin form
    url = reverse("admin:customers_account_change", args=[account.pk])
    response = finance_client.post(url, account_form(account, legal_name="Renamed GmbH"))
    assert response.status_code == 302

    # then the history page shows who changed it, and what
    history = finance_client.get(reverse("admin:customers_account_history", args=[account.pk]))
    assert history.status_code == 200
    record = account.history.first()
    assert record.legal_name == "Renamed GmbH"
    assert record.history_user.username == "finance"


@pytest.mark.parametrize("currency", ["eur", "XYZ"])
def test_a_currency_stripe_does_not_support_is_refused_on_the_form(finance_client, currency):
    make_accounts(1, User.objects.get(username="manager"))
    account = Account.objects.get()
    url = reverse("admin:customers_account_change", args=[account.pk])
    response = finance_client.post(url, account_form(account, default_currency=currency))
    assert response.status_code == 200
    assert f"Select a valid choice. {currency} is not one of the available choices." in (
        response.content.decode()
    )
    account.refresh_from_db()
    assert account.default_currency == "EUR"


def test_a_tax_id_is_checked_on_the_account_page(finance_client):
    make_accounts(1, User.objects.get(username="manager"))
    account = Account.objects.get()
    url = reverse("admin:customers_account_change", args=[account.pk])
    form = account_form(
        account,
        **{"tax_ids-TOTAL_FORMS": 1, "tax_ids-0-type": "eu_vat", "tax_ids-0-value": "DE136695977"},
    )
    response = finance_client.post(url, form)
    assert "is not a valid EU VAT number: its check digits do not match" in (
        response.content.decode()
    )
    assert not account.tax_ids.exists()
    form["tax_ids-0-value"] = "de 136 695 976"
    assert finance_client.post(url, form).status_code == 302
    assert list(account.tax_ids.values_list("value", "country")) == [("DE136695976", "DE")]


def test_managers_reach_only_their_own_accounts_on_every_screen(client, demo_logins):
    # given one account for each of two managers
    manager, other = User.objects.get(username="manager"), User.objects.get(username="manager2")
    make_accounts(1, manager)
    mine = Account.objects.get()
    theirs = Account.objects.create(
        legal_name="Not Yours Ltd",
        external_ref="CRM-OTHER",
        billing_country="GB",
        default_currency="GBP",
        account_manager=other,
    )
    client.login(username="manager", password=demo_logins["manager"])

    # then the list, search, page, history and autocomplete show only their own
    listing = client.get(reverse("admin:customers_account_changelist")).content.decode()
    assert mine.legal_name in listing
    assert "Not Yours Ltd" not in listing
    found = client.get(reverse("admin:customers_account_changelist"), {"q": "Not Yours"})
    assert "Not Yours Ltd" not in found.content.decode()
    assert (
        client.get(reverse("admin:customers_account_change", args=[theirs.pk])).status_code == 302
    )
    history = client.get(reverse("admin:customers_account_history", args=[theirs.pk]))
    assert history.status_code == 404
    assert client.get(reverse("admin:customers_account_history", args=[mine.pk])).status_code == 200
    # and they cannot hand their own account to another manager
    page = client.get(reverse("admin:customers_account_change", args=[mine.pk])).content.decode()
    assert 'name="account_manager"' not in page


def test_accounts_found_by_stripe_id_and_filtered(finance_client, stripe_standin):
    import stripe
    from django.conf import settings

    from stripe_sync.mirror import customer_sync_from_stripe

    # given two accounts, one linked to its Stripe customer
    make_accounts(6, User.objects.get(username="manager"))  # DE/EUR, JP/JPY, US/USD, ...
    linked = Account.objects.get(external_ref="CRM-T001")
    created = stripe.Customer.create(name=linked.legal_name, api_key=settings.STRIPE_SECRET_KEY)
    linked.stripe_customer = customer_sync_from_stripe(stripe_id=created.id)
    linked.save()
    url = reverse("admin:customers_account_changelist")

    # then the Stripe id finds it
    page = finance_client.get(url, {"q": created.id}).content.decode()
    assert linked.legal_name in page
    assert "Customer 000 GmbH" not in page
    # and the filters narrow the list by country, currency and manager
    page = finance_client.get(url, {"country": "JP"}).content.decode()
    assert "Customer 001 GmbH" in page
    assert "Customer 000 GmbH" not in page
    page = finance_client.get(url, {"default_currency": "USD"}).content.decode()
    assert "Customer 002 GmbH" in page
    assert "Customer 001 GmbH" not in page
    manager = User.objects.get(username="manager")
    page = finance_client.get(url, {"account_manager__id__exact": manager.pk}).content.decode()
    assert "Customer 005 GmbH" in page
