"""Each demo login reaches the admin and sees only what its role may."""

import pytest
from django.urls import NoReverseMatch, reverse

from backoffice.logins.tests.helpers import log_in  # the login form, then the code if asked

pytestmark = pytest.mark.django_db


def test_login_page_renders(client):
    response = client.get(reverse("admin:login"))
    assert response.status_code == 200
    assert b"Finance back-office" in response.content
    assert b'name="password"' in response.content


def test_site_root_leads_to_the_admin(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")


def test_wrong_password_is_refused(client, demo_logins):
    response = client.post(reverse("admin:login"), {"username": "finance", "password": "nope"})
    assert response.status_code == 200
    assert b"Please enter the correct username and password" in response.content


# What each role finds on the admin index: (shown, not shown).
ADMIN_INDEX_VISIBILITY = {
    "admin": (
        ["Accounts", "Users", "Groups", "Periodic tasks", "Customers", "Invoices"],
        [],
    ),
    "finance": (
        [
            "Accounts",
            "Periodic tasks",
            "Customers",
            "Invoices",
            "Stripe mirror (read-only)",
            "Tax settings",
            "Invoice review",
            "Invoice reviews",
            "Tax rates",
            "Tax rules",
            "Stripe sync",
            "Stripe sync status",
            "Stripe events",
        ],
        ["Users", "Groups", "Api keys", "Webhook endpoints"],
    ),
    "manager": (
        ["Accounts", "Contracts", "Tax settings", "Tax rates"],
        [
            "Users",
            "Groups",
            "Periodic tasks",
            "Invoices",
            "Stripe",
            "Stripe sync",
            "Invoice review",
        ],
    ),
}


@pytest.mark.parametrize("username", ADMIN_INDEX_VISIBILITY)
def test_each_demo_login_sees_what_its_role_may(client, demo_logins, username):
    # given a demo user logged in
    log_in(client, username, demo_logins[username])

    # when they open the admin
    page = client.get(reverse("admin:index")).content.decode()

    # then they see their role's screens and none of the others
    shown, hidden = ADMIN_INDEX_VISIBILITY[username]
    for name in shown:
        assert f">{name}<" in page, f"{username} should see {name}"
    for name in hidden:
        assert f">{name}<" not in page, f"{username} should not see {name}"


@pytest.mark.parametrize(
    ("username", "url_name", "status"),
    [
        ("finance", "admin:customers_account_changelist", 200),
        ("manager", "admin:customers_account_changelist", 200),
        ("finance", "admin:djstripe_customer_changelist", 200),
        ("manager", "admin:djstripe_customer_changelist", 403),
        # The Stripe mirror is read-only for finance: changes come from Stripe.
        ("finance", "admin:djstripe_customer_add", 403),
        ("finance", "admin:backoffice_user_changelist", 403),
        # Secrets are never shown: webhook signing secrets (the Stripe key has no screen).
        ("finance", "admin:djstripe_webhookendpoint_changelist", 403),
        ("finance", "admin:stripe_sync_syncstatus_changelist", 200),
        ("finance", "admin:stripe_sync_stripeevent_changelist", 200),
        ("manager", "admin:stripe_sync_syncstatus_changelist", 403),
        ("finance", "admin:billing_taxrate_add", 200),
        ("finance", "admin:billing_taxrule_add", 200),
        ("manager", "admin:billing_taxrate_changelist", 200),
        ("manager", "admin:billing_taxrate_add", 403),
        ("manager", "admin:billing_taxrule_add", 403),
        ("manager", "admin:stripe_sync_stripeevent_changelist", 403),
        ("manager", "admin:backoffice_user_changelist", 403),
        ("finance", "admin:django_celery_beat_periodictask_changelist", 200),
        ("manager", "admin:django_celery_beat_periodictask_changelist", 403),
        ("manager", "admin:customers_account_add", 403),
        ("manager", "admin:billing_contract_changelist", 200),
        ("manager", "admin:billing_contract_add", 200),
        ("manager", "admin:billing_catalogitem_add", 403),
        ("admin", "admin:backoffice_user_changelist", 200),
    ],
)
def test_screens_open_only_to_their_roles(client, demo_logins, username, url_name, status):
    log_in(client, username, demo_logins[username])
    assert client.get(reverse(url_name)).status_code == status


@pytest.mark.parametrize(
    "url_name", ["admin:djstripe_customer_changelist", "admin:djstripe_invoice_changelist"]
)
def test_mirror_search_works(client, demo_logins, url_name):
    # dj-stripe's own search on these screens is a server error
    log_in(client, "finance", demo_logins["finance"])
    assert client.get(reverse(url_name), {"q": "acme"}).status_code == 200


def test_no_screen_shows_the_stripe_key(client, demo_logins):
    log_in(client, "admin", demo_logins["admin"])
    with pytest.raises(NoReverseMatch):
        reverse("admin:djstripe_apikey_changelist")
    assert "API key" not in client.get(reverse("admin:index")).content.decode()


def test_anonymous_visitor_is_sent_to_login(client):
    response = client.get(reverse("admin:customers_account_changelist"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_the_mirror_invoice_list_opens_on_invoices_of_todays_api(client, demo_logins):
    from djstripe.models import Customer, Invoice

    from stripe_standin.store import stripe_fixture

    # an invoice as API 2026-08-26 sends it: no `paid` any more
    customer = Customer.objects.create(id="cus_nopaid", stripe_data={"id": "cus_nopaid"})
    data = stripe_fixture("invoice") | {"id": "in_nopaid", "currency": "eur", "total": 297500}
    data.pop("paid", None)
    data["customer"] = customer.id
    Invoice.objects.create(id="in_nopaid", customer=customer, stripe_data=data)
    log_in(client, "finance", demo_logins["finance"])

    page = client.get(reverse("admin:djstripe_invoice_changelist"))

    assert page.status_code == 200
    assert "2,975.00 EUR" in page.content.decode()


@pytest.mark.parametrize("missing", ["paid", "attempt_count"])
def test_a_mirror_invoice_page_opens_whatever_field_stripe_no_longer_sends(
    client, demo_logins, missing
):
    """dj-stripe's object pages show every property of its model, each reading a field of
    the payload; one Stripe no longer sends (or a payload that lacks one) shows "-"."""
    from djstripe.models import Customer, Invoice

    from stripe_standin.store import stripe_fixture

    customer = Customer.objects.create(id="cus_page", stripe_data={"id": "cus_page"})
    data = stripe_fixture("invoice") | {"id": "in_page", "currency": "eur", "customer": "cus_page"}
    data.pop(missing, None)
    invoice = Invoice.objects.create(id="in_page", customer=customer, stripe_data=data)
    for role in ("finance", "admin"):
        log_in(client, role, demo_logins[role])
        page = client.get(reverse("admin:djstripe_invoice_change", args=[invoice.pk]))
        assert page.status_code == 200, (role, missing)


def test_the_mirror_invoice_search_finds_an_invoice_by_id_number_or_customer(client, demo_logins):
    from djstripe.models import Customer, Invoice

    from stripe_standin.store import stripe_fixture

    customer = Customer.objects.create(id="cus_Found", stripe_data={"id": "cus_Found"})
    for n in (1, 2):
        data = stripe_fixture("invoice") | {
            "id": f"in_found{n}",
            "number": f"ABC-000{n}",
            "customer": customer.id,
            "currency": "eur",
        }
        Invoice.objects.create(id=f"in_found{n}", customer=customer, stripe_data=data)
    log_in(client, "finance", demo_logins["finance"])
    url = reverse("admin:djstripe_invoice_changelist")

    def found(term: str) -> set[str]:
        return {i.id for i in client.get(url, {"q": term}).context["cl"].result_list}

    assert found("in_found2") == {"in_found2"}
    assert found(" ABC-0001 ") == {"in_found1"}
    assert found("cus_Found") == {"in_found1", "in_found2"}
    assert found("nothing") == set()
