"""Sessions end: after SESSION_IDLE_TIMEOUT_MINUTES without a request, and SESSION_MAX_AGE_HOURS
after signing in however active; their cookies carry the flags they should."""

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse

from backoffice.logins.sessions import LAST_SEEN_AT, SIGNED_IN_AT
from backoffice.logins.tests.helpers import password_step
from backoffice.tests.test_settings import PRODUCTION_ENV, manage

pytestmark = pytest.mark.django_db
INDEX = reverse("admin:index")
ACCOUNTS = reverse("admin:customers_account_changelist")
LOGIN = reverse("admin:login")


@pytest.fixture
def manager(client: Client, demo_logins: dict[str, str]) -> Client:
    """The demo's account manager, signed in through the login form."""
    assert password_step(client, "manager", demo_logins["manager"]).status_code == 302
    assert client.get(INDEX).status_code == 200
    return client


def age_session(client: Client, key: str, seconds: float) -> None:
    """As if `key`'s moment in the session were `seconds` earlier."""
    session = client.session
    session[key] -= seconds
    session.save()


def test_an_idle_session_is_signed_out(manager, settings):
    assert settings.SESSION_IDLE_TIMEOUT_MINUTES == 30  # the default
    # given no request for 30 minutes
    age_session(manager, LAST_SEEN_AT, 30 * 60)

    # when the person comes back to a list
    response = manager.get(ACCOUNTS)

    # then they are at the login page, told why, and will come back to the list
    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next={ACCOUNTS}"
    page = manager.get(response["Location"]).content.decode()
    assert "You were signed out after 30 minutes without activity" in page
    assert manager.get(INDEX)["Location"].startswith(LOGIN)


def test_a_session_used_within_the_idle_time_goes_on(manager):
    age_session(manager, LAST_SEEN_AT, 29 * 60)

    assert manager.get(ACCOUNTS).status_code == 200
    # and that request counts as activity: the next 29 minutes are fine too
    age_session(manager, LAST_SEEN_AT, 29 * 60)
    assert manager.get(ACCOUNTS).status_code == 200


def test_the_idle_time_comes_from_the_settings(manager, settings):
    settings.SESSION_IDLE_TIMEOUT_MINUTES = 5
    age_session(manager, LAST_SEEN_AT, 5 * 60)

    assert manager.get(ACCOUNTS).status_code == 302


def test_a_session_ends_after_its_lifetime_however_active(manager, settings):
    assert settings.SESSION_MAX_AGE_HOURS == 12  # the default
    # given a person active all along, who signed in 12 hours ago
    age_session(manager, SIGNED_IN_AT, 12 * 3600)

    response = manager.get(ACCOUNTS)

    assert response["Location"].startswith(LOGIN)
    assert "12 hours after signing in" in manager.get(response["Location"]).content.decode()


def test_the_session_and_its_cookie_end_when_the_lifetime_does(client, demo_logins):
    # when a person signs in
    response = password_step(client, "manager", demo_logins["manager"])

    # then the cookie lasts 12 hours, and the stored session as long
    cookie = response.cookies["sessionid"]
    assert 12 * 3600 - 60 <= int(cookie["max-age"]) <= 12 * 3600
    stored = Session.objects.get(session_key=cookie.value)
    signed_in_at = client.session[SIGNED_IN_AT]
    assert abs(stored.expire_date.timestamp() - (signed_in_at + 12 * 3600)) < 1

    # when later activity is written to the session
    age_session(client, LAST_SEEN_AT, 5 * 60)
    response = client.get(INDEX)
    assert response.status_code == 200
    assert client.session[LAST_SEEN_AT] > signed_in_at

    # then the end does not move: activity never lengthens a session
    assert Session.objects.get(session_key=cookie.value).expire_date == stored.expire_date
    later_cookie = response.cookies["sessionid"]
    assert int(later_cookie["max-age"]) <= int(cookie["max-age"])


def test_session_and_csrf_cookies_are_httponly_and_samesite_lax(client, demo_logins):
    login_page = client.get(LOGIN)
    csrf = login_page.cookies["csrftoken"]
    response = password_step(client, "manager", demo_logins["manager"])
    session = response.cookies["sessionid"]

    assert session["httponly"] is True
    assert session["samesite"] == "Lax"
    assert csrf["samesite"] == "Lax"
    assert session["secure"] == ""  # development serves plain HTTP; production: next test


def test_production_cookies_are_secure():
    script = (
        "from django.conf import settings as s; print(s.SESSION_COOKIE_SECURE, "
        "s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.SESSION_COOKIE_SAMESITE, "
        "s.CSRF_COOKIE_SAMESITE, s.SESSION_COOKIE_AGE, s.SESSION_IDLE_TIMEOUT_MINUTES)"
    )
    result = manage("shell", "--no-imports", "-c", script, **PRODUCTION_ENV)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True", "True", "Lax", "Lax", "43200", "30"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SESSION_IDLE_TIMEOUT_MINUTES", "0"),
        ("SESSION_MAX_AGE_HOURS", "0"),
        ("LOGIN_FAILURE_LIMIT", "0"),
        ("TRUSTED_PROXY_COUNT", "-1"),
    ],
)
def test_a_setting_that_would_disable_a_rule_is_refused(name, value):
    result = manage("check", **{name: value})

    assert result.returncode != 0
    assert f"{name} is {value}; it must be" in result.stderr


def test_the_settings_are_read_from_the_environment():
    script = (
        "from django.conf import settings as s; print(s.SESSION_COOKIE_AGE, "
        "s.SESSION_IDLE_TIMEOUT_MINUTES, s.AXES_FAILURE_LIMIT, s.AXES_COOLOFF_TIME, "
        "s.TRUSTED_PROXY_COUNT, ','.join(s.TWO_FACTOR_REQUIRED_FOR))"
    )
    result = manage(
        "shell",
        "--no-imports",
        "-c",
        script,
        SESSION_MAX_AGE_HOURS="8",
        SESSION_IDLE_TIMEOUT_MINUTES="10",
        LOGIN_FAILURE_LIMIT="3",
        LOGIN_LOCKOUT_MINUTES="30",
        TRUSTED_PROXY_COUNT="1",
        TWO_FACTOR_REQUIRED_FOR="staff",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["28800", "10", "3", "0.5", "1", "staff"]


def test_commands_print_no_banner_of_the_lockout():
    result = manage("check")

    assert result.returncode == 0, result.stderr
    assert "AXES" not in result.stderr + result.stdout
