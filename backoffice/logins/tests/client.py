"""The test client's logins, for tests (conftest.py) and benches (bench/) that are not about
signing in."""


def client_logins_give_the_second_factor() -> None:
    """Sessions that the test client opens without the login form (`client.login`,
    `force_login`, pytest-django's `admin_client`) have also given their second factor, as if
    the person had typed their authenticator app's code: the hundreds of tests that are not
    about signing in need not go through it. The tests of signing in use the real forms
    (backoffice/logins/tests/), where nothing is given. Only django.test.Client changes, in
    the process that calls this; the product's code and settings are untouched.

    `client.login` also passes a request to `authenticate`: django-axes counts failures per
    client address and refuses a login attempt without one."""
    from django.http import HttpRequest
    from django.test import Client

    original_login, original_force_login = Client.login, Client._login

    def login(self: Client, **credentials: object) -> bool:
        if "request" not in credentials:
            request = HttpRequest()
            request.META["REMOTE_ADDR"] = "127.0.0.1"
            credentials["request"] = request
        return original_login(self, **credentials)

    def _login(self: Client, user: object, backend: str | None = None) -> None:
        from django_otp import DEVICE_ID_SESSION_KEY

        from backoffice.logins.tests.helpers import second_factor_device_for_tests

        original_force_login(self, user, backend)
        device = second_factor_device_for_tests(user)
        if device is not None:
            session = self.session
            session[DEVICE_ID_SESSION_KEY] = device.persistent_id
            session.save()

    Client.login = login  # type: ignore[method-assign]
    Client._login = _login  # type: ignore[method-assign]
