"""The home page (the admin index): each role's figures, each opening the list of exactly the
rows it counts; nothing a role may not open; a constant number of queries; the work first in
the navigation, the Stripe mirror collapsed."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from backoffice.models import User
from billing.contracts.models import Contract
from billing.contracts.tests.factories import ContractFactory
from billing.invoices.models import InvoiceReview
from customers.models import Account, TaxId
from customers.tests.factories import AccountFactory, UserFactory
from stripe_sync.models import OutboxTask, PushStatus, StripeEvent

pytestmark = pytest.mark.django_db
INDEX = reverse("admin:index")


def logged_in(username: str, demo_logins: dict[str, str]) -> Client:
    client = Client()
    assert client.login(username=username, password=demo_logins[username])
    return client


def figures_of(response) -> dict[tuple[str, str], dict]:
    """The page's figures by (panel, label), as the template received them."""
    return {
        (panel["title"], figure["label"]): figure
        for panel in response.context["home_panels"]
        for figure in panel["figures"]
    }


def rows_shown(client: Client, url: str) -> set[int]:
    """The pks of the rows a changelist shows (one page is enough here)."""
    response = client.get(url)
    assert response.status_code == 200, url
    return {row.pk for row in response.context["cl"].result_list}


def contract(account: Account, status: str, *, ends_in: int = 400, notice: int = 30, **kw):
    today = timezone.localdate()
    return ContractFactory(
        account=account,
        status=status,
        start_date=today - timedelta(days=300),
        end_date=today + timedelta(days=ends_in),
        notice_period_days=notice,
        **kw,
    )


@pytest.fixture
def book(demo_logins):
    """Two managers' accounts and contracts, invoice drafts in three currencies, and the
    Stripe sync's troubles: each figure's rows named."""
    manager, manager2 = (User.objects.get(username=n) for n in ("manager", "manager2"))
    # A reverse-charge EU customer with its VAT ID is ready to be taxed; the others (Germany,
    # no tax rule) are not.
    mine = AccountFactory(account_manager=manager, tax_exemption=Account.TaxExemption.REVERSE)
    TaxId.objects.create(account=mine, type="eu_vat", value="DE123456789")
    theirs = AccountFactory(
        account_manager=manager2, stripe_push_status=PushStatus.REFUSED, legal_name="Other AG"
    )
    draft = contract(mine, Contract.Status.DRAFT)
    sent_back = contract(mine, Contract.Status.DRAFT, sent_back_reason="The PO number is wrong.")
    their_sent_back = contract(theirs, Contract.Status.DRAFT, sent_back_reason="Not theirs")
    pending = contract(mine, Contract.Status.PENDING_APPROVAL)
    their_pending = contract(theirs, Contract.Status.PENDING_APPROVAL)
    # Ends in 20 days, notice by day 10; ends in 75 days, notice by day 45 (manager's).
    soon = contract(mine, Contract.Status.ACTIVE, ends_in=20, notice=10)
    later = contract(
        mine, Contract.Status.ACTIVE, ends_in=75, notice=30, stripe_push_status=PushStatus.RETRYING
    )
    far = contract(mine, Contract.Status.ACTIVE, ends_in=400)
    # Ends in 50 days, notice by day 20 (manager2's); one whose notice date has passed.
    their_active = contract(theirs, Contract.Status.ACTIVE, ends_in=50, notice=30)
    past_notice = contract(theirs, Contract.Status.ACTIVE, ends_in=5, notice=30)
    # An ended contract counts nowhere.
    contract(mine, Contract.Status.EXPIRED, ends_in=10, notice=5)

    def review(n: int, status: str, currency: str, amount: str) -> int:
        return InvoiceReview.objects.create(
            stripe_invoice_id=f"in_home{n}",
            account=mine,
            currency=currency,
            amount=Decimal(amount),
            status=status,
        ).pk

    S = InvoiceReview.Status
    reviews = {
        "flagged EUR": review(1, S.FLAGGED, "EUR", "100.50"),
        "flagged JPY": review(2, S.FLAGGED, "JPY", "5000"),
        "clean EUR": review(3, S.CLEAN, "EUR", "1000.00"),
        "held EUR": review(4, S.HELD, "EUR", "7.00"),
        "awaiting second BHD": review(5, S.AWAITING_SECOND, "BHD", "1234.5"),
    }
    review(6, S.FINALIZED, "EUR", "99.00")
    now = timezone.now()
    failed = StripeEvent.objects.create(
        stripe_id="evt_failed",
        type="invoice.created",
        created=now,
        payload={},
        source=StripeEvent.Source.WEBHOOK,
        status=StripeEvent.Status.FAILED,
    )
    StripeEvent.objects.create(
        stripe_id="evt_done",
        type="invoice.created",
        created=now,
        payload={},
        source=StripeEvent.Source.WEBHOOK,
        status=StripeEvent.Status.PROCESSED,
    )
    stuck = OutboxTask.objects.create(task="stripe_sync.tasks.push", args=[1])
    OutboxTask.objects.filter(pk=stuck.pk).update(created_at=now - timedelta(hours=1))
    OutboxTask.objects.create(task="stripe_sync.tasks.push", args=[2])  # just written
    return {
        "mine": mine,
        "theirs": theirs,
        "reviews": reviews,
        "draft": draft,
        "sent_back": sent_back,
        "their_sent_back": their_sent_back,
        "pending": {pending.pk, their_pending.pk},
        "soon": soon,
        "later": later,
        "far": far,
        "their_active": their_active,
        "past_notice": past_notice,
        "failed_event": failed,
        "stuck_task": stuck,
    }


def test_finance_sees_each_figure_and_each_opens_exactly_its_rows(demo_logins, book):
    # given finance logged in
    client = logged_in("finance", demo_logins)

    # when they open the home page
    response = client.get(INDEX)

    # then each figure counts the rows its link shows, and these are the right rows
    assert response.status_code == 200
    figures = figures_of(response)
    soon, later, their_active = book["soon"].pk, book["later"].pk, book["their_active"].pk
    reviews = book["reviews"]
    expected = {
        ("Invoice review", "Drafts flagged"): {reviews["flagged EUR"], reviews["flagged JPY"]},
        ("Invoice review", "Drafts clean"): {reviews["clean EUR"]},
        ("Invoice review", "Drafts held"): {reviews["held EUR"]},
        ("Invoice review", "Drafts awaiting a second approver"): {reviews["awaiting second BHD"]},
        # held drafts were decided on (held, with a note); finalized ones are done
        ("Invoice review", "Awaiting a decision in BHD"): {reviews["awaiting second BHD"]},
        ("Invoice review", "Awaiting a decision in EUR"): {
            reviews["flagged EUR"],
            reviews["clean EUR"],
        },
        ("Invoice review", "Awaiting a decision in JPY"): {reviews["flagged JPY"]},
        ("Contracts", "Waiting for approval"): book["pending"],
        ("Contracts", "Renew or end within 30 days"): {soon, book["past_notice"].pk},
        ("Contracts", "Renew or end within 60 days"): {soon, their_active, book["past_notice"].pk},
        ("Contracts", "Renew or end within 90 days"): {
            soon,
            their_active,
            later,
            book["past_notice"].pk,
        },
        ("Contracts", "Notice due within 30 days"): {soon, their_active},
        ("Contracts", "Notice due within 60 days"): {soon, their_active, later},
        ("Contracts", "Notice due within 90 days"): {soon, their_active, later},
        ("Accounts", "Accounts not tax-ready"): {book["theirs"].pk},
        ("Stripe sync", "Stripe events that failed"): {book["failed_event"].pk},
        ("Stripe sync", "Tasks stuck before the broker (writes to Stripe among them)"): {
            book["stuck_task"].pk
        },
        ("Stripe sync", "Accounts Stripe refused or is retrying"): {book["theirs"].pk},
        ("Stripe sync", "Contracts Stripe refused or is retrying"): {later},
        ("Stripe sync", "Tax rates Stripe refused or is retrying"): set(),
    }
    assert set(figures) == set(expected)
    for key, rows in expected.items():
        figure = figures[key]
        assert figure["count"] == len(rows), key
        if rows:
            assert f'href="{escape(figure["url"])}"' in response.content.decode(), key
            assert rows_shown(client, figure["url"]) == rows, key
        else:
            assert figure["url"] is None, key  # nothing to do: no link


def test_totals_are_money_in_each_currency_never_added_across(demo_logins, book):
    response = logged_in("finance", demo_logins).get(INDEX)

    figures = figures_of(response)
    assert figures[("Invoice review", "Awaiting a decision in EUR")]["amount"] == "1,100.50 EUR"
    assert figures[("Invoice review", "Awaiting a decision in JPY")]["amount"] == "5,000 JPY"
    assert figures[("Invoice review", "Awaiting a decision in BHD")]["amount"] == "1,234.500 BHD"
    page = response.content.decode()
    assert "1,100.50 EUR" in page
    assert "1,234.500 BHD" in page


def test_panels_follow_the_navigation(demo_logins, book):
    response = logged_in("finance", demo_logins).get(INDEX)

    titles = [panel["title"] for panel in response.context["home_panels"]]
    assert titles == ["Invoice review", "Contracts", "Accounts", "Stripe sync"]


def test_a_manager_sees_their_own_figures_and_no_finance_one(demo_logins, book):
    # given an account manager logged in
    client = logged_in("manager", demo_logins)

    # when they open the home page
    response = client.get(INDEX)

    # then they see their drafts, what was sent back and why, their renewals and notice dates
    figures = figures_of(response)
    soon, later = book["soon"].pk, book["later"].pk
    expected = {
        ("Contracts", "Your drafts"): {book["draft"].pk, book["sent_back"].pk},
        ("Contracts", "Sent back to you"): {book["sent_back"].pk},
        ("Contracts", "Renew or end within 30 days"): {soon},
        ("Contracts", "Renew or end within 60 days"): {soon},
        ("Contracts", "Renew or end within 90 days"): {soon, later},
        ("Contracts", "Notice due within 30 days"): {soon},
        ("Contracts", "Notice due within 60 days"): {soon, later},
        ("Contracts", "Notice due within 90 days"): {soon, later},
    }
    assert set(figures) == set(expected)
    for key, rows in expected.items():
        assert figures[key]["count"] == len(rows), key
        assert rows_shown(client, figures[key]["url"]) == rows, key
    # with the reason finance gave, and a link to the contract
    details = figures[("Contracts", "Sent back to you")]["details"]
    assert [(d["note"], d["url"]) for d in details] == [
        (
            "The PO number is wrong.",
            reverse("admin:billing_contract_change", args=[book["sent_back"].pk]),
        )
    ]
    page = response.content.decode()
    assert "The PO number is wrong." in page
    # and nothing of finance's, nor of another manager's
    for text in ("Not theirs", "Waiting for approval", "Drafts flagged", "not tax-ready"):
        assert text not in page, text


def test_a_person_sees_only_the_figures_of_lists_they_may_open(demo_logins, book):
    # given a staff member who may only read contracts (all of them)
    user = UserFactory(username="reader")
    user.set_password("pw")
    user.save()
    user.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_contract", "view_all_accounts"],
        )
    )
    client = Client()
    assert client.login(username="reader", password="pw")

    # when they open the home page
    response = client.get(INDEX)

    # then only contract figures are shown, each opening
    figures = figures_of(response)
    assert figures
    assert {panel for panel, _ in figures} == {"Contracts"}
    for figure in figures.values():
        if figure["url"]:
            assert client.get(figure["url"]).status_code == 200


def test_someone_without_permissions_sees_no_figure(demo_logins, book):
    user = UserFactory(username="nobody")
    user.set_password("pw")
    user.save()
    client = Client()
    assert client.login(username="nobody", password="pw")

    response = client.get(INDEX)

    assert response.status_code == 200
    assert response.context["home_panels"] == []


def grow(book: dict, start: int, times: int) -> None:
    """More of everything the home page counts: contracts in every state, drafts, accounts."""
    for n in range(start, start + times):
        account = AccountFactory(account_manager=book["mine"].account_manager)
        contract(account, Contract.Status.DRAFT, sent_back_reason=f"reason {n}")
        contract(account, Contract.Status.PENDING_APPROVAL)
        contract(account, Contract.Status.ACTIVE, ends_in=10 + n, notice=n % 4)
        contract(account, Contract.Status.ACTIVE, ends_in=80 + n, notice=30 + n)
        InvoiceReview.objects.create(
            stripe_invoice_id=f"in_grow{n}",
            account=account,
            currency=["EUR", "USD", "JPY", "KWD"][n % 4],
            amount=Decimal(10 + n),
            status=InvoiceReview.Status.FLAGGED,
        )


@pytest.mark.parametrize("username", ["finance", "manager", "admin"])
def test_the_home_page_costs_the_same_queries_whatever_the_data(
    demo_logins, book, username, django_assert_max_num_queries
):
    client = logged_in(username, demo_logins)
    client.get(INDEX)  # the session and the like, once
    grow(book, 0, 1)
    with django_assert_max_num_queries(25) as small:
        assert client.get(INDEX).status_code == 200

    grow(book, 1, 20)
    with django_assert_max_num_queries(len(small.captured_queries)) as large:
        assert client.get(INDEX).status_code == 200
    assert len(large.captured_queries) == len(small.captured_queries)


# --- Navigation


def test_the_work_comes_first_in_the_app_list(demo_logins):
    response = logged_in("finance", demo_logins).get(INDEX)

    names = [app["name"] for app in response.context["app_list"]]
    assert names[:7] == [
        "Invoice review",
        "Contracts",
        "Accounts",
        "Tax settings",
        "Payments",
        "Reports",
        "Stripe sync",
    ]
    # the Stripe mirror last, collapsed under one heading
    assert names[-1] == "Stripe mirror (read-only)"
    mirror = response.context["app_list"][-1]
    assert mirror["collapsed"]
    assert len(mirror["models"]) > 30
    page = response.content.decode()
    assert page.index(">Invoice review<") < page.index(">Contracts<") < page.index(">Accounts<")
    assert page.index(">Accounts<") < page.index(">Tax settings<")
    assert page.index(">Tax settings<") < page.index(">Stripe mirror (read-only)<")
    assert page.count("<details") == 1
    assert page.index("<details") < page.index('href="/admin/djstripe/invoice/"')


def test_each_section_lists_its_screens_work_first(demo_logins):
    response = logged_in("admin", demo_logins).get(INDEX)

    sections = {app["name"]: app for app in response.context["app_list"]}
    listed = {name: [m["object_name"] for m in app["models"]] for name, app in sections.items()}
    assert listed["Invoice review"] == ["InvoiceReview", "CreditNote", "InvoiceApprovalLimit"]
    assert listed["Contracts"] == ["Contract", "UsageQuantity", "CatalogItem"]
    assert listed["Accounts"] == ["Account"]
    assert listed["Tax settings"] == ["TaxRate", "TaxRule"]
    assert listed["Payments"] == [
        "RadarQueue",
        "RadarDecision",
        "RadarApprovalLimit",
        "PaymentRetry",
        "DisputeEvidence",
    ]
    # billing and customers have nothing left to list under their own names
    assert "Billing" not in sections
    assert "Customers" not in sections
    # a section's heading opens its first list
    assert sections["Contracts"]["app_url"] == reverse("admin:billing_contract_changelist")


def test_the_sidebar_follows_the_same_order(demo_logins):
    client = logged_in("finance", demo_logins)

    response = client.get(reverse("admin:billing_contract_changelist"))

    names = [app["name"] for app in response.context["available_apps"]]
    assert names[:4] == ["Invoice review", "Contracts", "Accounts", "Tax settings"]
    assert names[-1] == "Stripe mirror (read-only)"
    sidebar = response.content.decode().split('id="nav-sidebar"')[1]
    assert sidebar.index(">Invoice review<") < sidebar.index(">Contracts<")
    assert "<details>" in sidebar  # the mirror closed...

    # ...and open on its own pages
    mirror = client.get(reverse("admin:djstripe_customer_changelist")).content.decode()
    assert "<details open>" in mirror.split('id="nav-sidebar"')[1]


def test_a_managers_navigation_has_only_their_sections(demo_logins):
    response = logged_in("manager", demo_logins).get(INDEX)

    names = [app["name"] for app in response.context["app_list"]]
    # Payments: their own accounts' Radar queue, collections and disputes
    assert names == ["Contracts", "Accounts", "Tax settings", "Payments", "Reports"]


def test_the_mirror_app_page_still_lists_every_mirrored_object(demo_logins):
    response = logged_in("finance", demo_logins).get(reverse("admin:app_list", args=["djstripe"]))

    assert response.status_code == 200
    assert len(response.context["app_list"][0]["models"]) > 30
