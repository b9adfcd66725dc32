"""The 400, 403, 404, 500 and refused-form pages with DEBUG off: what happened, in words, and
the way back to the home page, in the admin's look."""

import pytest
from django.contrib.auth.models import Group
from django.middleware.csrf import REASON_NO_CSRF_COOKIE
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse

from backoffice.errors import bad_request, csrf_failure, roles_for_page
from backoffice.roles import ACCOUNT_MANAGERS, FINANCE, roles_granting
from customers.tests.factories import AccountFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("backoffice.tests.error_urls")]

HOME_LINK = f'<a href="{reverse("admin:index")}">Back to the home page</a>'


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@override_settings(DEBUG=False)
def test_a_missing_record_gives_the_404_page_with_the_way_back(finance):
    # given: an account that is not there (its history page looks it up)
    url = reverse("admin:customers_account_history", args=[999_999])

    # when
    response = logged_in(finance).get(url)

    # then
    assert response.status_code == 404
    page = response.content.decode()
    assert "There is nothing here that you may see" in page
    assert "No account 999999 that you may see." in page  # the reason our view gave
    assert HOME_LINK in page
    assert "Finance back-office" in page  # the admin's header
    assert 'id="nav-sidebar"' in page  # and its sidebar, for a person signed in


@override_settings(DEBUG=False)
def test_a_page_of_no_screen_gives_the_404_page_without_the_resolvers_internals(client):
    response = client.get("/no-such-screen/")

    assert response.status_code == 404
    page = response.content.decode()
    assert "There is nothing here that you may see" in page
    assert "Resolver404" not in page
    assert HOME_LINK in page
    assert 'id="nav-sidebar"' not in page  # nobody signed in: no sidebar of nothing


@override_settings(DEBUG=False)
def test_another_managers_account_is_not_found_for_a_manager(manager):
    # given: an account managed by someone else
    other = AccountFactory()

    # when
    response = logged_in(manager).get(reverse("admin:customers_account_history", args=[other.pk]))

    # then
    assert response.status_code == 404
    assert "belongs to a customer you do not look after" in response.content.decode()


@override_settings(DEBUG=False)
def test_a_manager_opening_a_finance_page_gets_the_403_page_naming_the_role(manager):
    # when: the invoice review queue, which only finance may open
    response = logged_in(manager).get(reverse("admin:billing_invoicereview_changelist"))

    # then
    assert response.status_code == 403
    page = response.content.decode()
    assert "You may not open this page or do this" in page
    assert "It is for Finance. If your work needs it, ask an administrator" in " ".join(
        page.split()
    )
    assert HOME_LINK in page
    assert "Finance back-office" in page


@override_settings(DEBUG=False)
def test_a_403_on_a_page_of_no_known_role_says_to_ask_an_administrator(manager):
    request = RequestFactory().get("/admin/")
    request.user = manager
    request.resolver_match = None

    assert roles_for_page(request) == []


def test_roles_granting_reads_the_roles_file():
    assert roles_granting("billing.view_invoicereview") == [FINANCE]
    assert roles_granting("billing.add_contract") == [FINANCE, ACCOUNT_MANAGERS]
    assert roles_granting("djstripe.view_customer") == [FINANCE]  # the mirror, read-only
    assert roles_granting("djstripe.view_apikey") == []  # secrets: no role
    assert roles_granting("backoffice.change_user") == []  # superusers only


@override_settings(DEBUG=False)
def test_a_failing_page_gives_the_plain_500_page_with_the_way_back(finance):
    # given
    client = Client(raise_request_exception=False)
    client.force_login(finance)

    # when
    response = client.get("/test-only/fails/")

    # then
    assert response.status_code == 500
    page = response.content.decode()
    assert "Something went wrong" in page
    assert "Open the record again to see which before you redo it." in " ".join(page.split())
    assert '<a href="/admin/"' in page
    assert "{%" not in page  # plain HTML, rendered without a context
    assert "{{" not in page
    assert "script-src 'self'" in response["Content-Security-Policy"]


def test_the_500_page_has_no_template_tag_that_could_fail():
    from django.template.loader import get_template

    source = get_template("500.html").template.source

    assert "{%" not in source
    assert "{{" not in source
    assert "<style" not in source  # refused by the policy
    assert "<script" not in source


@override_settings(DEBUG=False)
def test_a_refused_form_says_so_and_that_nothing_was_saved(finance, account):
    # given: a client that checks CSRF as a browser would, posting without the token
    client = Client(enforce_csrf_checks=True)
    client.force_login(finance)

    # when
    response = client.post(
        reverse("admin:customers_account_change", args=[account.pk]), {"legal_name": "Changed"}
    )

    # then
    assert response.status_code == 403
    page = response.content.decode()
    assert "The form could not be accepted, and nothing was saved" in page
    assert HOME_LINK in page
    account.refresh_from_db()
    assert account.legal_name != "Changed"


def test_the_refused_form_page_renders_without_a_signed_in_user():
    request = RequestFactory().post("/admin/login/")

    response = csrf_failure(request, reason=REASON_NO_CSRF_COOKIE)

    assert response.status_code == 403
    assert "security token" in response.content.decode()


@override_settings(DEBUG=False, ALLOWED_HOSTS=["billing.example.com"])
def test_a_request_for_another_host_gets_the_400_page(client):
    response = client.get(reverse("admin:login"), HTTP_HOST="evil.example")

    assert response.status_code == 400
    page = response.content.decode()
    assert "This request could not be accepted, and nothing was saved" in page
    assert "Finance back-office" in page


def test_the_400_page_renders_with_no_request_worth_trusting():
    response = bad_request(RequestFactory().get("/"), ValueError("bad"))

    assert response.status_code == 400
    assert HOME_LINK in response.content.decode()


def test_finance_has_the_role_the_403_page_names():
    assert (
        Group.objects.get(name=FINANCE).permissions.filter(codename="view_invoicereview").exists()
    )
