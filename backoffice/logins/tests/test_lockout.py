"""The lockout after repeated failures, through the real login form: per username and per
client address, which a forged X-Forwarded-For can neither reset nor dodge."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client, RequestFactory
from django.urls import reverse

from backoffice.logins.client_ip import client_ip

pytestmark = pytest.mark.django_db
LOGIN = reverse("admin:login")
INDEX = reverse("admin:index")


@pytest.fixture
def limit(settings) -> int:
    assert settings.AXES_FAILURE_LIMIT == settings.LOGIN_FAILURE_LIMIT == 5  # the default
    return settings.LOGIN_FAILURE_LIMIT


def sign_in(client: Client, username: str, password: str, **headers: str):
    return client.post(
        f"{LOGIN}?next={INDEX}", {"username": username, "password": password}, **headers
    )


def signed_in(client: Client) -> bool:
    return client.get(INDEX).status_code == 200


def fail(client: Client, times: int, username: str = "manager", **headers: str) -> None:
    for _ in range(times):
        response = sign_in(client, username, "wrong password", **headers)
        assert response.status_code in (200, 429)


def move_failures_back(minutes: float) -> None:
    """As if the failures had happened `minutes` earlier."""
    for attempt in AccessAttempt.objects.all():
        attempt.attempt_time -= timedelta(minutes=minutes)
        attempt.save(update_fields=["attempt_time"])


def test_after_the_limit_even_the_right_password_is_refused(client, demo_logins, limit):
    # given wrong passwords up to the limit (the last one is answered with the pause)
    fail(client, limit - 1)
    assert sign_in(client, "manager", "wrong").status_code == 429

    # when the right one follows
    response = sign_in(client, "manager", demo_logins["manager"])

    # then it is refused, on a page that says why and until when; no session is opened
    assert response.status_code == 429
    page = response.content.decode()
    assert "Sign-in paused: too many failed attempts." in page
    assert "After 5 failed sign-ins for this user, or from this address" in page
    assert "for 15 minutes" in page
    assert not signed_in(client)


def test_one_short_of_the_limit_the_right_password_works(client, demo_logins, limit):
    fail(client, limit - 2)
    response = sign_in(client, "manager", "wrong")
    assert response.status_code == 200
    assert "Please enter the correct username and password" in response.content.decode()

    assert sign_in(client, "manager", demo_logins["manager"]).status_code == 302
    assert signed_in(client)


def test_a_forged_x_forwarded_for_neither_dodges_nor_resets_it(client, demo_logins, limit):
    # given failures, each claiming another address in X-Forwarded-For
    for n in range(limit):
        fail(client, 1, HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")

    # then they all counted, and yet another claimed address does not help
    response = sign_in(
        client, "manager", demo_logins["manager"], HTTP_X_FORWARDED_FOR="203.0.113.77"
    )
    assert response.status_code == 429
    assert not signed_in(client)
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"127.0.0.1"}


def test_a_locked_username_is_refused_from_any_address(demo_logins, limit):
    # given failures for one username, each from another address
    for n in range(limit):
        fail(Client(REMOTE_ADDR=f"10.0.0.{n + 1}"), 1, username="finance")

    # then that username is refused from a new address...
    elsewhere = Client(REMOTE_ADDR="10.0.9.9")
    assert sign_in(elsewhere, "finance", demo_logins["finance"]).status_code == 429
    # ...while another person from that address signs in
    assert sign_in(elsewhere, "manager", demo_logins["manager"]).status_code == 302


def test_a_locked_address_is_refused_for_any_username(demo_logins, limit):
    # given an address trying one username after another
    guesser = Client(REMOTE_ADDR="192.0.2.66")
    for n in range(limit):
        fail(guesser, 1, username=f"someone{n}")

    # then it is refused for a username it never tried, right password and all...
    assert sign_in(guesser, "manager", demo_logins["manager"]).status_code == 429
    assert not signed_in(guesser)
    # ...while the same person from their own address signs in
    assert (
        sign_in(Client(REMOTE_ADDR="192.0.2.10"), "manager", demo_logins["manager"]).status_code
        == 302
    )


def test_ones_own_good_password_does_not_reset_an_address_count(demo_logins, limit):
    # given an address one short of the limit, guessing other usernames
    guesser = Client(REMOTE_ADDR="192.0.2.66")
    for n in range(limit - 1):
        fail(guesser, 1, username=f"someone{n}")

    # when it signs in to an account it has the password of, then guesses again
    assert sign_in(guesser, "manager", demo_logins["manager"]).status_code == 302
    guesser.post(reverse("admin:logout"))
    fail(guesser, 1, username="someone-else")

    # then the address is locked all the same
    assert sign_in(guesser, "manager", demo_logins["manager"]).status_code == 429


def test_after_the_cool_off_the_right_password_works(client, demo_logins, limit, settings):
    fail(client, limit)
    assert sign_in(client, "manager", demo_logins["manager"]).status_code == 429

    # a minute before the end of the pause: still refused
    move_failures_back(settings.LOGIN_LOCKOUT_MINUTES - 1)
    assert sign_in(client, "manager", demo_logins["manager"]).status_code == 429

    # (that attempt started the wait again) once it is over: in
    move_failures_back(settings.LOGIN_LOCKOUT_MINUTES + 1)
    assert sign_in(client, "manager", demo_logins["manager"]).status_code == 302
    assert signed_in(client)


def test_the_limit_and_the_pause_come_from_the_settings(client, demo_logins, settings):
    settings.AXES_FAILURE_LIMIT = 2
    settings.AXES_COOLOFF_TIME = 1.0  # hours

    fail(client, 2)
    response = sign_in(client, "manager", demo_logins["manager"])

    assert response.status_code == 429
    assert "After 2 failed sign-ins" in response.content.decode()
    assert "for 60 minutes" in response.content.decode()


def test_behind_a_named_proxy_the_client_is_what_the_proxy_saw(demo_logins, limit, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = "10.1.1.1"

    # given a client behind our proxy failing, with forged entries of its own in front
    for n in range(limit):
        fail(
            Client(REMOTE_ADDR=proxy),
            1,
            username=f"someone{n}",
            HTTP_X_FORWARDED_FOR=f"203.0.113.{n}, 198.51.100.7",
        )

    # then that client is locked out, whatever it puts in front...
    locked = Client(REMOTE_ADDR=proxy)
    headers = {"HTTP_X_FORWARDED_FOR": "203.0.113.200, 198.51.100.7"}
    assert sign_in(locked, "manager", demo_logins["manager"], **headers).status_code == 429
    # ...and another client through the same proxy is not
    other = Client(REMOTE_ADDR=proxy)
    headers = {"HTTP_X_FORWARDED_FOR": "198.51.100.8"}
    assert sign_in(other, "manager", demo_logins["manager"], **headers).status_code == 302


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "", "192.0.2.1"),
        (0, "198.51.100.7", "192.0.2.1"),  # no proxy named: the header is anyone's
        (1, "198.51.100.7", "198.51.100.7"),
        (1, "203.0.113.5, 198.51.100.7", "198.51.100.7"),  # the client's own entry ignored
        (2, "203.0.113.5, 198.51.100.7, 10.0.0.2", "198.51.100.7"),
        (2, "198.51.100.7", "192.0.2.1"),  # not through both proxies
        (1, "not-an-address", "192.0.2.1"),
        (1, "2001:db8::1", "2001:db8::1"),
    ],
)
def test_the_client_address(settings, proxies, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().post(
        "/admin/login/", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR=forwarded
    )
    assert client_ip(request) == expected


def test_superusers_see_the_lockouts_in_the_admin(client, demo_logins, admin_client, limit):
    fail(client, limit, username="finance")

    # a superuser sees who is locked out, from where
    page = admin_client.get(reverse("admin:axes_accessattempt_changelist")).content.decode()
    assert "finance" in page
    assert "127.0.0.1" in page
    assert "Login lockouts" in admin_client.get(INDEX).content.decode()

    # and lifts the lock by deleting the attempts
    attempt = AccessAttempt.objects.get(username="finance")
    admin_client.post(
        reverse("admin:axes_accessattempt_delete", args=[attempt.pk]), {"post": "yes"}
    )
    assert sign_in(Client(), "finance", demo_logins["finance"]).status_code == 302

    # finance, who is not a superuser, does not see them
    finance = Client()
    assert finance.login(username="finance", password=demo_logins["finance"])
    response = finance.get(reverse("admin:axes_accessattempt_changelist"))
    assert response.status_code == 403
