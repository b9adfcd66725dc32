"""Every request of a signed-in person goes through these, after the session, the user and
django-otp's OTPMiddleware: a session past its time is signed out; a person who owes a second
factor reaches no page before giving it (or setting one up)."""

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth import SESSION_KEY, logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponseBase
from django.urls import reverse

from backoffice.logins.policy import SecondFactor, second_factor_state
from backoffice.logins.sessions import session_end_reason
from backoffice.logins.views import redirect_to_second_factor

# What a person who owes a second factor may still open: the pages that take it, signing in
# (as someone else) and out.
OPEN_BEFORE_SECOND_FACTOR = {"logins:verify", "logins:enrol", "admin:login", "admin:logout"}


class SessionTimeoutMiddleware:
    """Signs out a session idle for SESSION_IDLE_TIMEOUT_MINUTES, or older than
    SESSION_MAX_AGE_HOURS, and sends the person to the login page with a note saying why."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if SESSION_KEY in request.session:
            reason = session_end_reason(request=request)
            if reason is not None:
                logout(request)
                messages.info(request, f"You were signed out {reason}. Sign in again to go on.")
                login_url = reverse("admin:login")
                if not request.path.startswith(login_url):
                    return redirect_to_login(request.get_full_path(), login_url)
        return self.get_response(request)


class SecondFactorMiddleware:
    """After the password, a person with an authenticator app is asked for its code, and one
    whose role requires a second factor (TWO_FACTOR_REQUIRED_FOR) and has none is taken to set
    one up, before any other page. The admin site refuses them too (BackofficeAdminSite)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any
    ) -> HttpResponseBase | None:
        if not request.user.is_authenticated:
            return None
        match = request.resolver_match
        if match is not None and match.view_name in OPEN_BEFORE_SECOND_FACTOR:
            return None
        state = second_factor_state(request)
        if state in (SecondFactor.CODE_NEEDED, SecondFactor.ENROLMENT_NEEDED):
            return redirect_to_second_factor(request, state)
        return None
